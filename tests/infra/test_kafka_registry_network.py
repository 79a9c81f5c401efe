from __future__ import annotations

import json

import pytest

from infra.contracts import load_schemas
from infra.kafka import Kafka, KafkaConfig, kafka_client_policy
from infra.network import Network, NetworkConfig, subnet_cidrs
from infra.registry import Registry, RegistryConfig
from tests.infra.conftest import FIXTURES, Recorder, mocked

KAFKA = KafkaConfig(
    broker_count=3, instance_type="kafka.m7g.large", volume_gb=500, default_replication_factor=3, min_insync_replicas=2
)


def test_msk_uses_tls_iam_auth_kms_and_config_sizes(mocks: Recorder):
    mocked(lambda: Kafka("kafka", KAFKA, vpc_id="vpc-1", vpc_cidr="10.0.0.0/16", subnet_ids=["a", "b", "c"]))

    msk = mocks.one("aws:msk/cluster:Cluster").inputs
    assert msk["clientAuthentication"] == {"sasl": {"iam": True, "scram": False}, "unauthenticated": False}
    assert msk["encryptionInfo"]["encryptionInTransit"] == {"clientBroker": "TLS", "inCluster": True}
    assert msk["encryptionInfo"]["encryptionAtRestKmsKeyArn"].endswith("kafka-key")
    assert msk["numberOfBrokerNodes"] == 3
    assert msk["brokerNodeGroupInfo"]["instanceType"] == "kafka.m7g.large"
    assert msk["brokerNodeGroupInfo"]["storageInfo"]["ebsStorageInfo"]["volumeSize"] == 500
    assert msk["loggingInfo"]["brokerLogs"]["cloudwatchLogs"]["enabled"] is True
    assert msk["openMonitoring"]["prometheus"]["jmxExporter"]["enabledInBroker"] is True
    props = mocks.one("aws:msk/configuration:Configuration").inputs["serverProperties"]
    assert "auto.create.topics.enable=false\n" in props
    assert "min.insync.replicas=2\n" in props
    assert "default.replication.factor=3\n" in props
    sg = mocks.one("aws:ec2/securityGroup:SecurityGroup").inputs
    assert [(i["fromPort"], i["cidrBlocks"]) for i in sg["ingress"]] == [(9098, ["10.0.0.0/16"])]


def test_broker_count_must_spread_evenly_over_zones():
    with pytest.raises(
        ValueError, match=r"brokerCount \(3\) must be a multiple of the number of availability zones \(2\)"
    ):
        Kafka("kafka", KAFKA, vpc_id="v", vpc_cidr="10.0.0.0/16", subnet_ids=["a", "b"])


def test_client_policy_names_topics_and_groups_without_wildcards():
    arn = "arn:aws:kafka:eu-west-1:1:cluster/c/uuid"
    policy = json.loads(json.dumps(kafka_client_policy(arn, ["events.page_view"], ["events.dead_letter"], ["stream"])))
    resources = [
        r for s in policy["Statement"] for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]
    assert resources == [
        arn,
        "arn:aws:kafka:eu-west-1:1:topic/c/uuid/events.page_view",
        "arn:aws:kafka:eu-west-1:1:topic/c/uuid/events.dead_letter",
        "arn:aws:kafka:eu-west-1:1:group/c/uuid/stream",
    ]
    assert "*" not in json.dumps(policy)


def test_a_schema_added_to_the_directory_is_registered_backward(mocks: Recorder, tmp_path):
    for p in (FIXTURES / "schemas").glob("*.avsc"):
        (tmp_path / p.name).write_text(p.read_text())
    (tmp_path / "newsletter_signup.avsc").write_text(
        '{"type": "record", "name": "NewsletterSignup", "retention_days": 90, "fields": []}'
    )
    mocked(lambda: Registry("registry", RegistryConfig(), load_schemas(tmp_path)))
    registry_arn = "arn:aws:mock:::registry/registry-registry"
    schemas = {r.inputs["schemaName"]: r.inputs for r in mocks.of_type("aws:glue/schema:Schema")}
    assert set(schemas) == {"dead_letter", "newsletter_signup", "page_view"}
    for s in schemas.values():
        assert (s["dataFormat"], s["compatibility"], s["registryArn"]) == ("AVRO", "BACKWARD", registry_arn)
    assert json.loads(schemas["newsletter_signup"]["schemaDefinition"])["name"] == "NewsletterSignup"


def test_subnets_do_not_overlap():
    public, private = subnet_cidrs("10.20.0.0/16", 3)
    assert private == ["10.20.0.0/19", "10.20.32.0/19", "10.20.64.0/19"]
    assert public == ["10.20.224.0/21", "10.20.232.0/21", "10.20.240.0/21"]


def test_network_spans_zones_with_nat_per_config_and_private_endpoints(mocks: Recorder):
    config = NetworkConfig(
        cidr="10.20.0.0/16", availability_zones=("eu-west-1a", "eu-west-1b", "eu-west-1c"), nat_gateways=2
    )
    mocked(lambda: Network("net", config, "eu-west-1", "cluster"))

    assert len(mocks.of_type("aws:ec2/subnet:Subnet")) == 6
    assert len(mocks.of_type("aws:ec2/natGateway:NatGateway")) == 2
    endpoints = {r.inputs["serviceName"]: r.inputs for r in mocks.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert endpoints["com.amazonaws.eu-west-1.s3"]["vpcEndpointType"] == "Gateway"
    assert len(endpoints["com.amazonaws.eu-west-1.s3"]["routeTableIds"]) == 3
    for svc in ("glue", "sts", "ecr.api", "ecr.dkr", "logs", "monitoring"):
        assert endpoints[f"com.amazonaws.eu-west-1.{svc}"]["privateDnsEnabled"] is True
    routes = {
        r.name: r.inputs["routes"][0].get("natGatewayId")
        for r in mocks.of_type("aws:ec2/routeTable:RouteTable")
        if r.name.startswith("net-private")
    }
    assert routes == {
        "net-private-eu-west-1a": "net-nat-eu-west-1a-id",
        "net-private-eu-west-1b": "net-nat-eu-west-1b-id",
        "net-private-eu-west-1c": "net-nat-eu-west-1a-id",
    }


def test_zone_outside_region_is_rejected():
    config = NetworkConfig(cidr="10.20.0.0/16", availability_zones=("us-east-1a", "us-east-1b"), nat_gateways=1)
    with pytest.raises(ValueError, match="'us-east-1a' is not in region 'eu-west-1'"):
        Network("net", config, "eu-west-1", "cluster")


def test_egress_needs_nat_gateways_or_a_nat_instance_not_both():
    from pydantic import ValidationError

    zones = ("eu-west-1a", "eu-west-1b")
    with pytest.raises(ValidationError, match=r"natGateways is 0: set natInstance"):
        NetworkConfig(cidr="10.20.0.0/16", availability_zones=zones, nat_gateways=0)
    with pytest.raises(ValidationError, match="set either natGateways > 0 or natInstance, not both"):
        NetworkConfig.model_validate(
            {"cidr": "10.20.0.0/16", "availabilityZones": zones, "natGateways": 1, "natInstance": {}}
        )
