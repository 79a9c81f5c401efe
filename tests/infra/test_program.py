"""The whole program per stack under mocks: inventory, tags, IAM, sizing."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.infra.conftest import Recorder, is_secret, is_taggable, provider_tags, unsecret

FIVE = {"cost-center", "environment", "component", "owner", "managed-by"}


def test_every_taggable_aws_resource_carries_the_five_cost_tags(stack: Recorder):
    checked = 0
    for r in stack.created:
        if not is_taggable(r.typ):
            continue
        effective = {**provider_tags(stack, r.provider), **(r.inputs.get("tags") or {})}
        assert set(effective) >= FIVE, f"{r.typ} {r.name} lacks {FIVE - set(effective)}"
        checked += 1
    assert checked > 30


def test_component_tag_names_the_owning_component(dev: Recorder):
    assert dev.one("aws:msk/cluster:Cluster").inputs["tags"]["component"] == "kafka"
    assert dev.one("aws:ec2/vpc:Vpc").inputs["tags"]["component"] == "network"
    assert dev.one("aws:glue/registry:Registry").inputs["tags"]["component"] == "registry"
    assert {
        r.inputs["tags"]["component"] for r in dev.of_type("aws:s3/bucket:Bucket") if r.name.startswith("lake-")
    } == {"lake"}


def test_provider_default_tags_carry_the_stack_values(prod: Recorder):
    tags = provider_tags(prod, prod.one("aws:ec2/vpc:Vpc").provider)
    assert tags == {
        "cost-center": "analytics-platform",
        "environment": "prod",
        "owner": "data-platform@example.com",
        "managed-by": "pulumi",
    }


def test_every_aws_resource_uses_an_explicit_tagged_provider(stack: Recorder):
    for r in stack.created:
        if r.typ.startswith("aws:"):
            assert "pulumi:providers:aws" in (r.provider or ""), f"{r.typ} {r.name}"


def test_no_iam_policy_grants_wildcard_actions_on_wildcard_resources(stack: Recorder):
    documents = [
        r.inputs[k]
        for r in stack.created
        for k in ("policy", "assumeRolePolicy")
        if (r.typ.startswith("aws:iam/") or r.typ == "aws:s3/bucketPolicy:BucketPolicy")
        and isinstance(r.inputs.get(k), str)
    ]
    assert documents
    for document in documents:
        for statement in json.loads(document)["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            assert not ("*" in resources and any("*" in a for a in actions)), statement


def _inventory(recorder: Recorder) -> Counter[str]:
    return Counter(r.typ for r in recorder.created)


def test_dev_inventory(dev: Recorder):
    inv = _inventory(dev)
    assert inv["aws:ec2/subnet:Subnet"] == 4
    assert inv["aws:ec2/natGateway:NatGateway"] == 0  # one NAT instance instead
    assert inv["aws:ec2/instance:Instance"] == 1
    assert inv["aws:ec2/vpcEndpoint:VpcEndpoint"] == 1  # the S3 gateway only
    assert inv["aws:s3/bucket:Bucket"] == 9  # five lake buckets + audit + the CDN's static bucket + state and backups
    assert inv["aws:msk/cluster:Cluster"] == 1
    assert inv["aws:glue/schema:Schema"] == 6
    assert inv["aws:s3/bucketReplicationConfig:BucketReplicationConfig"] == 0
    assert inv["aws:costexplorer/costAllocationTag:CostAllocationTag"] == 0


def test_prod_inventory(prod: Recorder):
    inv = _inventory(prod)
    assert inv["aws:ec2/subnet:Subnet"] == 6
    assert inv["aws:ec2/natGateway:NatGateway"] == 3
    assert inv["aws:s3/bucket:Bucket"] == 13  # five + audit + two replicas + static + state, backups and their replicas
    assert inv["aws:s3/bucketReplicationConfig:BucketReplicationConfig"] == 4  # lake 2 + state 2
    assert inv["aws:costexplorer/costAllocationTag:CostAllocationTag"] == 5


def test_prod_is_sized_larger_than_dev(dev: Recorder, prod: Recorder):
    d, p = dev.one("aws:msk/cluster:Cluster").inputs, prod.one("aws:msk/cluster:Cluster").inputs
    assert p["numberOfBrokerNodes"] > d["numberOfBrokerNodes"]
    volume = lambda c: c["brokerNodeGroupInfo"]["storageInfo"]["ebsStorageInfo"]["volumeSize"]  # noqa: E731
    assert volume(p) > volume(d)


def test_registry_holds_every_schema_in_the_repo(dev: Recorder):
    from tests.infra.conftest import REPO

    expected = {p.stem for p in (REPO / "schemas").glob("*.avsc")}
    assert {r.inputs["schemaName"] for r in dev.of_type("aws:glue/schema:Schema")} == expected


def test_redis_is_encrypted_with_auth_and_fails_over_only_in_prod(dev: Recorder, prod: Recorder):
    d = dev.one("aws:elasticache/replicationGroup:ReplicationGroup").inputs
    p = prod.one("aws:elasticache/replicationGroup:ReplicationGroup").inputs
    for group in (d, p):
        assert group["transitEncryptionEnabled"] is True
        assert group["atRestEncryptionEnabled"] is True
        assert is_secret(group["authToken"])
    assert (d["numCacheClusters"], d["automaticFailoverEnabled"], d["multiAzEnabled"]) == (1, False, False)
    assert (p["numCacheClusters"], p["automaticFailoverEnabled"], p["multiAzEnabled"]) == (3, True, True)


def test_kubernetes_secrets_come_from_pulumi_secrets_never_plaintext(stack: Recorder):
    secret = stack.one("kubernetes:core/v1:Secret", "workloads-secrets").inputs
    assert is_secret(secret["stringData"])
    assert set(unsecret(secret["stringData"])) == {
        "AA_REDIS_PASSWORD",
        "AA_IP_HASH_SALT",
        "SNOWFLAKE_TRANSFORMER_PRIVATE_KEY",
        "SNOWFLAKE_MONITOR_PRIVATE_KEY",
    }
    for r in stack.created:
        if r.typ != "kubernetes:core/v1:Secret":
            assert "salt-value-not-for-output" not in json.dumps(r.inputs), r.name


def test_topic_sync_job_is_named_by_the_topic_map_hash_and_runs_the_configured_command(dev: Recorder):
    from infra.contracts import load_topics
    from tests.infra.conftest import REPO

    digest = load_topics(REPO / "schemas" / "topics.yaml").sha256[:10]
    job = dev.one("kubernetes:batch/v1:Job").inputs
    assert job["metadata"]["name"] == f"topic-sync-{digest}"
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:4] == ["python", "-m", "pipelines.contracts.topics", "sync"]
    assert command[command.index("--replication-factor") + 1] == "2"
    assert command[command.index("--topics-file") + 1] == "/etc/topics/topics.yaml"
    assert command[command.index("--bootstrap-servers") + 1] == "b-1.kafka:9098,b-2.kafka:9098"


def test_collector_has_hpa_pdb_and_alb_ingress_for_v1_and_redirect(prod: Recorder):
    hpa = prod.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    assert prod.one("kubernetes:policy/v1:PodDisruptionBudget").inputs["spec"]["minAvailable"] == 1
    ingress = prod.one("kubernetes:networking.k8s.io/v1:Ingress").inputs
    assert ingress["spec"]["ingressClassName"] == "alb"
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/v1", "Prefix"), ("/r", "Exact")]


def test_stream_runs_as_spark_application_sized_from_config(dev: Recorder, prod: Recorder):
    def spec(r: Recorder) -> dict:
        return r.one("kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication").inputs["spec"]

    d, p = spec(dev), spec(prod)
    assert d["executor"]["instances"] == 1
    assert p["executor"]["instances"] == 4
    assert p["executor"]["memory"] == "8g"
    assert d["driver"]["serviceAccount"] == "stream"
    assert d["restartPolicy"]["type"] == "Always"
    assert d["sparkConf"]["spark.sql.streaming.checkpointLocation"] == "s3a://lake-enriched-bucket/_checkpoints/stream"
    assert d["sparkVersion"] == "4.3.0"
    assert "org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0" in d["deps"]["packages"]
    assert "org.apache.spark:spark-avro_2.13:4.2.0" in d["deps"]["packages"]
    env = {e["name"]: e.get("value") for e in d["driver"]["env"]}
    assert env["AA_LAKE_DIR"] == "s3a://lake-enriched-bucket/events"
    assert env["AA_CHECKPOINT_DIR"] == "s3a://lake-enriched-bucket/_checkpoints/stream"


def test_dev_nodes_are_spot_and_prod_on_demand(dev: Recorder, prod: Recorder):
    assert {r.inputs["capacityType"] for r in dev.of_type("aws:eks/nodeGroup:NodeGroup")} == {"SPOT"}
    assert {r.inputs["capacityType"] for r in prod.of_type("aws:eks/nodeGroup:NodeGroup")} == {"ON_DEMAND"}


def test_irsa_roles_trust_exactly_one_service_account(dev: Recorder):
    roles = {r.name: json.loads(r.inputs["assumeRolePolicy"]) for r in dev.of_type("aws:iam/role:Role")}
    condition = roles["irsa-stream"]["Statement"][0]["Condition"]["StringEquals"]
    assert condition == {
        "oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:analytics:stream",
        "oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
    }
    policies = {r.name: json.loads(r.inputs["policy"]) for r in dev.of_type("aws:iam/rolePolicy:RolePolicy")}
    stream_actions = {
        a
        for s in policies["irsa-stream"]["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "kafka-cluster:ReadData" in stream_actions
    assert "kafka-cluster:CreateTopic" not in stream_actions
    assert any("CreateTopic" in json.dumps(s) for s in policies["irsa-topic-sync"]["Statement"])


def test_alarms_cover_msk_redis_lag_and_snowpipe(prod: Recorder):
    alarms = {r.name: r.inputs for r in prod.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert {
        "alarm-msk-disk-broker-1",
        "alarm-msk-disk-broker-3",
        "alarm-msk-under-replicated",
        "alarm-stream-consumer-lag",
        "alarm-redis-memory",
        "alarm-snowpipe-errors",
    } <= set(alarms)
    assert alarms["alarm-msk-disk-broker-1"]["threshold"] == 75
    assert alarms["alarm-redis-memory"]["alarmActions"] == alarms["alarm-redis-memory"]["okActions"]


def test_cdn_serves_tracer_from_private_bucket_and_collector_paths_uncached(dev: Recorder):
    dist = dev.one("aws:cloudfront/distribution:Distribution").inputs
    origins = {o["originId"]: o for o in dist["origins"]}
    assert origins["static"]["originAccessControlId"] == "cdn-oac-id"
    assert origins["collector"]["customOriginConfig"]["originProtocolPolicy"] == "http-only"
    behaviors = {b["pathPattern"]: b for b in dist["orderedCacheBehaviors"]}
    assert set(behaviors) == {"/v1/*", "/r"}
    for b in behaviors.values():
        assert b["targetOriginId"] == "collector"
        assert b["cachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
        assert b["originRequestPolicyId"] == "cdn-collector-id"
    assert "POST" in behaviors["/v1/*"]["allowedMethods"]
    assert dist["defaultCacheBehavior"]["viewerProtocolPolicy"] == "redirect-to-https"
    headers = dev.one("aws:cloudfront/originRequestPolicy:OriginRequestPolicy").inputs["headersConfig"]
    assert {"CloudFront-Viewer-Country", "CloudFront-Viewer-City", "CloudFront-Viewer-Address"} <= set(
        headers["headers"]["items"]
    )
    policy = json.loads(dev.one("aws:s3/bucketPolicy:BucketPolicy", "cdn-static").inputs["policy"])
    read = policy["Statement"][1]
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert read["Condition"]["StringEquals"]["AWS:SourceArn"].endswith("cdn-distribution")


def test_collector_alarms_watch_the_ingress_load_balancer(dev: Recorder):
    alarms = {r.name: r.inputs for r in dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert alarms["alarm-collector-5xx"]["dimensions"] == {"LoadBalancer": "app/x/1"}
    assert alarms["alarm-collector-latency-p99"]["extendedStatistic"] == "p99"
    assert alarms["alarm-collector-latency-p99"]["threshold"] == 1.0


def test_whole_mocked_program_takes_under_30_cpu_seconds_per_stack(stack: Recorder):
    from tests.infra.conftest import DURATIONS

    assert max(DURATIONS.values()) < 30, DURATIONS
    assert len(stack.created) > 250


def test_node_instances_volumes_and_enis_get_the_cost_tags_from_launch_templates(prod: Recorder):
    templates = prod.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert len(templates) == 2
    for template in templates:
        specs = {s["resourceType"]: s["tags"] for s in template.inputs["tagSpecifications"]}
        assert set(specs) == {"instance", "volume", "network-interface"}
        for tags in specs.values():
            assert tags == {
                "cost-center": "analytics-platform",
                "environment": "prod",
                "owner": "data-platform@example.com",
                "managed-by": "pulumi",
                "component": "kubernetes",
            }
        assert template.inputs["metadataOptions"]["httpTokens"] == "required"
    for group in prod.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert group.inputs["launchTemplate"]["id"].endswith("-id")


def test_collector_may_produce_idempotently_but_not_administer_topics(dev: Recorder):
    policies = {r.name: r.inputs["policy"] for r in dev.of_type("aws:iam/rolePolicy:RolePolicy")}
    collector = policies["irsa-collector"]
    assert "kafka-cluster:WriteDataIdempotently" in collector
    assert "kafka-cluster:CreateTopic" not in collector
    assert "kafka-cluster:ReadData" not in collector


def test_log_groups_all_have_a_retention(prod: Recorder):
    groups = {r.name: r.inputs for r in prod.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert groups["kubernetes-control-plane"]["name"] == "/aws/eks/affiliate-analytics-prod/cluster"
    assert all(g.get("retentionInDays") for g in groups.values()), groups


def test_a_bad_value_fails_the_program_naming_key_and_stack_file():
    import pytest

    from stacks.config import StackConfigError
    from tests.infra.conftest import run_program

    with pytest.raises(StackConfigError) as err:
        run_program(
            "prod", {"affiliate-analytics:cache": {"nodeType": "cache.t4g.micro", "replicas": 0, "multiAz": True}}
        )
    assert "Pulumi.prod.yaml: affiliate-analytics:cache: multiAz needs at least one replica" in str(err.value)


def test_a_missing_secret_fails_naming_the_key():
    import pulumi
    import pytest

    from stacks.program import run
    from tests.infra.conftest import mocked, stack_config_values, start_mocks

    values = stack_config_values("dev")
    del values["affiliate-analytics:ipHashSalt"]
    start_mocks("dev", values)
    with pytest.raises(pulumi.ConfigMissingError, match="affiliate-analytics:ipHashSalt"):
        mocked(run)


def test_spark_operator_waits_for_the_namespace_and_the_driver_may_manage_executors(dev: Recorder):
    assert dev.one("kubernetes:core/v1:Namespace").inputs["metadata"]["name"] == "analytics"
    release = dev.one("kubernetes:helm.sh/v3:Release", "kubernetes-spark-operator").inputs
    assert release["values"]["spark"]["jobNamespaces"] == ["analytics"]
    binding = dev.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding").inputs
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "stream", "namespace": "analytics"}]
    rules = dev.one("kubernetes:rbac.authorization.k8s.io/v1:Role").inputs["rules"]
    assert "pods" in rules[0]["resources"]
    assert "create" in rules[0]["verbs"]


def test_every_container_has_cpu_and_memory_requests_and_limits(prod: Recorder):
    containers = []
    for r in prod.created:
        spec = r.inputs.get("spec") or {}
        if r.typ == "kubernetes:batch/v1:CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            containers += spec["template"]["spec"]["containers"]
    assert len(containers) == 7  # collector, dashboard, topic-sync, etl, quality, backup, catalog (prod)
    for c in containers:
        assert set(c["resources"]["requests"]) == {"cpu", "memory"}, c["name"]
        assert set(c["resources"]["limits"]) == {"cpu", "memory"}, c["name"]
    collector = next(c for c in containers if c["name"] == "collector")
    assert collector["resources"]["limits"] == {"cpu": "2000m", "memory": "512Mi"}


def test_stateful_resources_are_protected_in_prod_only(dev: Recorder, prod: Recorder):
    stateful = {
        "aws:kms/key:Key",
        "aws:msk/cluster:Cluster",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:s3/bucket:Bucket",
        "snowflake:index/database:Database",
    }
    for recorder, expected in ((dev, False), (prod, True)):
        flags = {name: p for (typ, name), p in recorder.protected.items() if typ in stateful}
        assert len(flags) >= 10
        assert {name for name, p in flags.items() if p != expected} == set()
    assert prod.protected[("aws:ec2/securityGroup:SecurityGroup", "kafka-brokers")] is False


def test_no_workload_takes_the_platform_secrets_in_bulk(dev: Recorder, prod: Recorder):
    """Least privilege: secrets reach a pod only by key (secretKeyRef or a mounted item), never as
    an envFrom of the whole Secret; each workload's set of keys is exactly what it uses."""
    for recorder in (dev, prod):
        pods: dict[str, list[dict]] = {}
        for kind in ("apps/v1:Deployment", "batch/v1:CronJob", "batch/v1:Job"):
            for r in recorder.of_type(f"kubernetes:{kind}"):
                spec = r.inputs["spec"]
                pod = (spec["jobTemplate"]["spec"] if "jobTemplate" in spec else spec)["template"]["spec"]
                pods[r.name] = pod["containers"] + pod.get("initContainers", [])
                for volume in pod.get("volumes", []):
                    if "secret" in volume and volume["secret"]["secretName"] == "platform-secrets":
                        assert volume["secret"]["items"], r.name
        app = recorder.one("kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication").inputs["spec"]
        pods["stream"] = [app["driver"], app["executor"]]
        keys: dict[str, set[str]] = {}
        for name, containers in pods.items():
            for c in containers:
                assert not any("secretRef" in source for source in c.get("envFrom", [])), name
                refs = {e["valueFrom"]["secretKeyRef"]["key"] for e in c.get("env", []) if "valueFrom" in e}
                keys[name] = keys.get(name, set()) | refs
        assert keys["workloads-collector"] == {"AA_IP_HASH_SALT", "AA_REDIS_PASSWORD"}
        assert keys["workloads-dashboard"] == keys["workloads-quality"] == keys["stream"] == {"AA_REDIS_PASSWORD"}
        assert keys["workloads-etl"] == set()  # its Snowflake key is a mounted file
    env = {
        e["name"]: e
        for e in dev.one("kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication").inputs["spec"]["driver"]["env"]
    }
    assert env["AA_REDIS_URL"]["value"] == "rediss://:$(AA_REDIS_PASSWORD)@" + env["AA_REDIS_HOST"]["value"] + ":6379/0"
    names = [
        e["name"]
        for e in dev.one("kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication").inputs["spec"]["driver"]["env"]
    ]
    assert names.index("AA_REDIS_PASSWORD") < names.index("AA_REDIS_URL")  # Kubernetes expands $(VAR) defined before


def test_services_listen_on_the_pod_network_and_take_secrets_by_reference(dev: Recorder):
    def env_of(app: str) -> dict[str, dict]:
        spec = dev.one("kubernetes:apps/v1:Deployment", f"workloads-{app}").inputs["spec"]
        return {e["name"]: e for e in spec["template"]["spec"]["containers"][0]["env"]}

    collector = env_of("collector")
    assert collector["AA_COLLECTOR_HOST"]["value"] == "0.0.0.0"
    assert collector["AA_COLLECTOR_PORT"]["value"] == "8080"
    assert collector["AA_COLLECTOR_KAFKA_BOOTSTRAP"]["value"] == "b-1.kafka:9098,b-2.kafka:9098"
    assert collector["AA_COLLECTOR_IP_SALT"]["valueFrom"]["secretKeyRef"] == {
        "name": "platform-secrets",
        "key": "AA_IP_HASH_SALT",
    }
    assert "value" not in collector["AA_COLLECTOR_IP_SALT"]
    dashboard = env_of("dashboard")
    assert dashboard["AA_DASHBOARD_ALLOW_REMOTE"]["value"] == "true"
    assert dashboard["AA_DASHBOARD_REDIS_URL"]["value"].startswith("rediss://:$(AA_REDIS_PASSWORD)@master.")
    # the explorer reads Snowflake as the read-only DASHBOARD_SVC user (BI_READER) with a mounted key
    assert dashboard["AA_DASHBOARD_BACKEND"]["value"] == "snowflake"
    assert dashboard["AA_DASHBOARD_SNOWFLAKE_ROLE"]["value"] == "BI_READER"
    assert dashboard["AA_DASHBOARD_SNOWFLAKE_USER"]["value"] == "DASHBOARD_SVC"
    assert dashboard["AA_DASHBOARD_SNOWFLAKE_ACCOUNT"]["value"] == "EXAMPLEORG-ANALYTICS_DEV"
    key_path = dashboard["AA_DASHBOARD_SNOWFLAKE_PRIVATE_KEY_PATH"]["value"]
    pod = dev.one("kubernetes:apps/v1:Deployment", "workloads-dashboard").inputs["spec"]["template"]["spec"]
    mount = pod["containers"][0]["volumeMounts"][0]
    assert key_path == mount["mountPath"] + "/key.p8"
    assert pod["volumes"][0]["secret"]["secretName"] == "dashboard-snowflake"
    key = dev.one("kubernetes:core/v1:Secret", "workloads-dashboard-snowflake").inputs["stringData"]
    assert is_secret(key) or is_secret(key["key.p8"])


def _workloads_with_oidc(certificate: bool) -> dict:
    import yaml

    from tests.infra.conftest import REPO

    workloads = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())["config"]["affiliate-analytics:workloads"]
    workloads["dashboard"]["oidc"] = {
        "issuer": "https://login.example.com",
        "authorizationEndpoint": "https://login.example.com/authorize",
        "tokenEndpoint": "https://login.example.com/token",
        "userInfoEndpoint": "https://login.example.com/userinfo",
        "clientId": "dashboard",
    }
    if certificate:
        workloads["certificateArn"] = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
    return workloads


def test_dashboard_sits_behind_alb_oidc_authentication_when_configured():
    from tests.infra.conftest import run_program

    recorder, _ = run_program(
        "prod",
        {
            "affiliate-analytics:workloads": _workloads_with_oidc(certificate=True),
            "affiliate-analytics:dashboardOidcClientSecret": "oidc-client-secret",
        },
    )
    ingress = recorder.one("kubernetes:networking.k8s.io/v1:Ingress", "workloads-dashboard").inputs
    notes = ingress["metadata"]["annotations"]
    assert notes["alb.ingress.kubernetes.io/auth-type"] == "oidc"
    assert notes["alb.ingress.kubernetes.io/auth-on-unauthenticated-request"] == "authenticate"
    assert notes["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTPS": 443}]'
    assert json.loads(notes["alb.ingress.kubernetes.io/auth-idp-oidc"])["secretName"] == "dashboard-oidc"
    string_data = recorder.one("kubernetes:core/v1:Secret", "workloads-dashboard-oidc").inputs["stringData"]
    assert is_secret(string_data) or is_secret(string_data["clientSecret"])  # never plaintext in the state
    secret = unsecret(string_data)
    assert secret["clientID"] == "dashboard"
    assert unsecret(secret["clientSecret"]) == "oidc-client-secret"


def test_dashboard_oidc_without_a_certificate_names_the_keys():
    from stacks.config import StackConfigError
    from tests.infra.conftest import run_program

    with pytest.raises(StackConfigError, match=r"workloads.dashboard.oidc needs workloads.certificateArn"):
        run_program("prod", {"affiliate-analytics:workloads": _workloads_with_oidc(certificate=False)})


def test_dev_egress_is_one_nat_instance_and_prod_a_gateway_per_zone(dev: Recorder, prod: Recorder):
    nat = dev.one("aws:ec2/instance:Instance", "network-nat").inputs
    assert (nat["instanceType"], nat["sourceDestCheck"], nat["associatePublicIpAddress"]) == ("t4g.nano", False, True)
    assert nat["ami"] == "ami-0123456789abcdef0"  # from the public AL2023 arm64 SSM parameter
    assert nat["metadataOptions"]["httpTokens"] == "required"
    assert nat["rootBlockDevice"]["encrypted"] is True
    assert 'ip saddr 10.20.0.0/16 oifname != "lo" masquerade' in nat["userData"]
    group = dev.one("aws:ec2/securityGroup:SecurityGroup", "network-nat").inputs
    assert [i["cidrBlocks"] for i in group["ingress"]] == [["10.20.0.0/16"]]
    routes = [r.inputs["routes"][0] for r in dev.of_type("aws:ec2/routeTable:RouteTable") if "private" in r.name]
    assert [r["networkInterfaceId"] for r in routes] == ["eni-network-nat"] * 2
    assert prod.of_type("aws:ec2/instance:Instance") == []
    assert len(prod.of_type("aws:ec2/natGateway:NatGateway")) == 3


def test_dev_nodes_run_office_hours_only(dev: Recorder, prod: Recorder):
    actions = {r.name: r.inputs for r in dev.of_type("aws:autoscaling/schedule:Schedule")}
    assert {n: (a["recurrence"], a["minSize"], a["desiredCapacity"]) for n, a in actions.items()} == {
        "kubernetes-general-up": ("0 7 * * MON-FRI", 2, 2),
        "kubernetes-general-down": ("0 19 * * MON-FRI", 0, 0),
    }
    assert {a["autoscalingGroupName"] for a in actions.values()} == {"eks-kubernetes-general-asg"}
    assert {a["timeZone"] for a in actions.values()} == {"Europe/Dublin"}
    assert prod.of_type("aws:autoscaling/schedule:Schedule") == []


def test_office_hours_resizes_are_not_drift():
    """The scheduled actions resize the group; Pulumi must not undo them (drift.yml expects no changes)."""
    import pulumi

    from infra.kubernetes import Kubernetes, KubernetesConfig
    from tests.infra.conftest import mocked, start_mocks

    seen: dict[str, list[str]] = {}

    def remember(args: pulumi.ResourceTransformationArgs) -> None:
        if args.type_ == "aws:eks/nodeGroup:NodeGroup":
            seen[args.name] = list(args.opts.ignore_changes or [])

    start_mocks()
    groups = {
        "day": {"instanceTypes": ["t3a.medium"], "capacityType": "SPOT", "minSize": 1, "desiredSize": 1, "maxSize": 2,
                "officeHours": {"startHour": 7, "endHour": 19}},
        "always": {"instanceTypes": ["t3a.medium"], "capacityType": "SPOT", "minSize": 1, "desiredSize": 1, "maxSize": 2},
    }  # fmt: skip
    config = KubernetesConfig.model_validate({"nodeGroups": groups})

    def build() -> Kubernetes:
        pulumi.runtime.register_stack_transformation(remember)  # type: ignore[arg-type]
        return Kubernetes("k", config, "c", "eu-west-1", "vpc-1", ["s-1", "s-2"], {})

    mocked(build)
    assert seen == {"k-day": ["scalingConfig.desiredSize", "scalingConfig.minSize"], "k-always": []}


def test_dev_cache_is_the_smallest_valkey_node(dev: Recorder, prod: Recorder):
    d = dev.one("aws:elasticache/replicationGroup:ReplicationGroup").inputs
    p = prod.one("aws:elasticache/replicationGroup:ReplicationGroup").inputs
    assert (d["engine"], d["nodeType"]) == ("valkey", "cache.t4g.micro")
    assert (p["engine"], p["nodeType"]) == ("redis", "cache.m7g.large")


def test_dev_stream_requests_less_cpu_than_its_spark_cores(dev: Recorder, prod: Recorder):
    def spec(r: Recorder) -> dict:
        return r.one("kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication").inputs["spec"]

    d, p = spec(dev), spec(prod)
    assert (d["driver"]["cores"], d["driver"]["coreRequest"], d["executor"]["coreRequest"]) == (1, "250m", "500m")
    assert "coreRequest" not in p["driver"]
    assert "coreRequest" not in p["executor"]


def test_cloudtrail_records_object_reads_and_writes_on_the_event_buckets_into_a_locked_audit_bucket(stack: Recorder):
    trail = stack.one("aws:cloudtrail/trail:Trail").inputs
    assert (trail["name"], trail["s3KeyPrefix"], trail["enableLogFileValidation"]) == (
        "lake-data-events",
        "cloudtrail",
        True,
    )
    assert trail["s3BucketName"] == "lake-audit-id"
    assert trail["kmsKeyId"] == "arn:aws:mock:::key/lake-audit-key"
    (selector,) = trail["advancedEventSelectors"]
    fields = {f["field"]: f for f in selector["fieldSelectors"]}
    assert fields["eventCategory"]["equals"] == ["Data"]
    assert fields["resources.type"]["equals"] == ["AWS::S3::Object"]
    assert fields["resources.ARN"]["startsWiths"] == [
        "arn:aws:s3:::lake-raw-bucket/",
        "arn:aws:s3:::lake-enriched-bucket/",
        "arn:aws:s3:::lake-dead-letter-bucket/",
    ]
    assert fields["resources.ARN"]["notStartsWiths"] == ["arn:aws:s3:::lake-enriched-bucket/_checkpoints/"]
    assert "readOnly" not in fields  # reads and writes
    arn = "arn:aws:cloudtrail:eu-west-1:123456789012:trail/lake-data-events"
    policy = json.loads(stack.one("aws:s3/bucketPolicy:BucketPolicy", "lake-audit").inputs["policy"])
    by_sid = {s.get("Sid"): s for s in policy["Statement"]}
    assert by_sid["CloudTrailWrite"]["Resource"] == "arn:aws:s3:::lake-audit-bucket/cloudtrail/*"
    assert by_sid["CloudTrailWrite"]["Condition"] == {"StringEquals": {"aws:SourceArn": arn}}
    assert by_sid["DenyLogDeletion"]["Effect"] == "Deny"
    assert by_sid["DenyLogDeletion"]["Action"] == ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    assert by_sid["DenyInsecureTransport"]["Effect"] == "Deny"
    key = json.loads(stack.one("aws:kms/key:Key", "lake-audit-key").inputs["policy"])
    (cloudtrail,) = [s for s in key["Statement"] if s["Sid"] == "CloudTrailEncryptsThisTrail"]
    assert cloudtrail["Action"] == ["kms:GenerateDataKey*", "kms:DescribeKey"]
    assert cloudtrail["Condition"] == {"StringEquals": {"aws:SourceArn": arn}}


def test_transformer_may_read_access_history_for_the_audit_mart(stack: Recorder):
    grant = stack.one("snowflake:index/grantDatabaseRole:GrantDatabaseRole").inputs
    assert (grant["databaseRoleName"], grant["parentRoleName"]) == ('"SNOWFLAKE"."GOVERNANCE_VIEWER"', "TRANSFORMER")
    on_governance = [
        r.inputs["privileges"]
        for r in stack.of_type("snowflake:index/grantPrivilegesToAccountRole:GrantPrivilegesToAccountRole")
        if r.inputs.get("onAccountObject", {}).get("objectName") == "GOVERNANCE"
        and r.inputs["accountRoleName"] == "TRANSFORMER"
    ]
    assert on_governance == [["USAGE", "CREATE SCHEMA"]]


def _cron_pod(recorder: Recorder, workload: str) -> dict:
    cron = recorder.one("kubernetes:batch/v1:CronJob", f"workloads-{workload}").inputs
    return cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def test_batch_runner_and_quality_monitor_log_in_to_snowflake_with_mounted_keys(dev: Recorder, prod: Recorder):
    for recorder, target in ((dev, "dev"), (prod, "prod")):
        etl = _cron_pod(recorder, "etl")
        env = {e["name"]: e.get("value") for e in etl["containers"][0]["env"]}
        assert env["AA_DBT_TARGET"] == target  # dbt/profiles.yml's Snowflake target of this stack
        assert (env["SNOWFLAKE_USER"], env["SNOWFLAKE_PRIVATE_KEY_PATH"]) == (
            "TRANSFORMER_SVC",
            "/var/run/secrets/snowflake/key.p8",
        )
        assert env["SNOWFLAKE_ACCOUNT"] == f"EXAMPLEORG-ANALYTICS_{target.upper()}"
        assert etl["volumes"][0]["secret"]["items"] == [{"key": "SNOWFLAKE_TRANSFORMER_PRIVATE_KEY", "path": "key.p8"}]
        assert etl["containers"][0]["volumeMounts"][0]["mountPath"] == "/var/run/secrets/snowflake"
        quality = _cron_pod(recorder, "quality")
        qenv = {e["name"]: e.get("value") for e in quality["containers"][0]["env"]}
        assert {k: v for k, v in qenv.items() if k.startswith("AA_QUALITY_SNOWFLAKE_")} == {
            "AA_QUALITY_SNOWFLAKE_ACCOUNT": f"EXAMPLEORG-ANALYTICS_{target.upper()}",
            "AA_QUALITY_SNOWFLAKE_USER": "MONITOR_SVC",
            "AA_QUALITY_SNOWFLAKE_ROLE": "MONITOR",
            "AA_QUALITY_SNOWFLAKE_WAREHOUSE": "BI",
            "AA_QUALITY_SNOWFLAKE_PRIVATE_KEY_PATH": "/var/run/secrets/snowflake/key.p8",
        }
        assert quality["volumes"][0]["secret"]["items"] == [{"key": "SNOWFLAKE_MONITOR_PRIVATE_KEY", "path": "key.p8"}]


def test_quality_monitor_alerts_through_the_observability_topics(dev: Recorder):
    topics = {r.name: r for r in dev.of_type("aws:sns/topic:Topic")}
    assert {"observability-critical", "observability-warning"} <= set(topics)
    env = {e["name"]: e.get("value") for e in _cron_pod(dev, "quality")["containers"][0]["env"]}
    arns = {env["AA_QUALITY_SNS_TOPIC_CRITICAL"], env["AA_QUALITY_SNS_TOPIC_WARNING"]}
    assert all(a and "observability-" in a for a in arns)
    policies = {r.name: json.loads(r.inputs["policy"]) for r in dev.of_type("aws:iam/rolePolicy:RolePolicy")}
    publish = [s for s in policies["irsa-quality"]["Statement"] if s["Action"] == "sns:Publish"]
    assert publish == [{"Effect": "Allow", "Action": "sns:Publish", "Resource": sorted(arns)}]
    ledger = env["AA_QUALITY_LEDGER_URI"]
    assert ledger.startswith("s3://")
    assert ledger.endswith("/quality/ledger")
    writes = [s for s in policies["irsa-quality"]["Statement"] if s["Action"] == ["s3:GetObject", "s3:PutObject"]]
    assert [w["Resource"].rsplit(":::", 1)[1] for w in writes] == [
        ledger.removeprefix("s3://").removesuffix("ledger") + "*"
    ]
    # the lake hop reads the very lake the stream writes, read-only
    stream_env = {
        e["name"]: e.get("value")
        for e in dev.one("kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication").inputs["spec"]["driver"]["env"]
    }
    assert env["AA_LAKE_DIR"] == stream_env["AA_LAKE_DIR"]
    bucket, _, prefix = env["AA_LAKE_DIR"].removeprefix("s3a://").partition("/")
    reads = [s for s in policies["irsa-quality"]["Statement"] if s["Action"] == "s3:GetObject"]
    assert [r["Resource"].rsplit(":::", 1)[1] for r in reads] == [f"{bucket}/{prefix}/*"]


def test_collector_counts_for_the_quality_ledger_in_redis(dev: Recorder):
    spec = dev.one("kubernetes:apps/v1:Deployment", "workloads-collector").inputs["spec"]
    env = {e["name"]: e for e in spec["template"]["spec"]["containers"][0]["env"]}
    assert env["AA_COLLECTOR_LEDGER_REDIS_URL"]["value"].startswith("rediss://:$(AA_REDIS_PASSWORD)@master.")
    assert env["AA_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "AA_REDIS_PASSWORD"


def test_every_job_command_is_accepted_by_its_module(dev: Recorder, prod: Recorder, monkeypatch):
    """A CronJob or Job whose arguments its module does not accept fails only at 2 a.m. in the cloud:
    parse each one with the module's own argparse (the runbook test's check)."""
    from tests.pipelines.ops.test_runbooks import _accepts

    checked = set()
    for recorder in (dev, prod):
        for r in [*recorder.of_type("kubernetes:batch/v1:CronJob"), *recorder.of_type("kubernetes:batch/v1:Job")]:
            spec = r.inputs["spec"]
            pod = (spec["jobTemplate"]["spec"] if "jobTemplate" in spec else spec)["template"]["spec"]
            for c in [*pod.get("initContainers", []), *pod["containers"]]:
                command = c["command"]
                if command[:2] == ["python", "-m"]:
                    _accepts(command[2], command[3:], monkeypatch)
                    checked.add(command[2])
    assert checked >= {
        "pipelines.batch",
        "pipelines.quality.monitor",
        "pipelines.ops.backup",
        "pipelines.contracts.topics",
        "pipelines.catalog",
    }


def test_alarms_on_workloads_are_muted_while_devs_nodes_are_off(dev: Recorder, prod: Recorder):
    """dev's nodes are off 19:00-07:00 and at weekends: the alarms on what runs there (consumer lag,
    collector errors and latency) are muted with them and unmuted an hour after the nodes are back."""
    schedules = {r.name: r.inputs for r in dev.of_type("aws:scheduler/schedule:Schedule")}
    assert {k: (v["scheduleExpression"], v["scheduleExpressionTimezone"]) for k, v in schedules.items()} == {
        "observability-alarms-disable": ("cron(0 19 ? * MON-FRI *)", "Europe/Dublin"),
        "observability-alarms-enable": ("cron(0 8 ? * MON-FRI *)", "Europe/Dublin"),
    }
    muted = ["alarm-stream-consumer-lag-1a2b3c", "alarm-collector-5xx-1a2b3c", "alarm-collector-latency-p99-1a2b3c"]
    for action, inputs in (
        ("disable", schedules["observability-alarms-disable"]),
        ("enable", schedules["observability-alarms-enable"]),
    ):
        target = inputs["target"]
        assert target["arn"] == f"arn:aws:scheduler:::aws-sdk:cloudwatch:{action}AlarmActions"
        assert json.loads(target["input"]) == {"AlarmNames": muted}
    policy = json.loads(dev.one("aws:iam/rolePolicy:RolePolicy", "observability-alarm-mute").inputs["policy"])
    assert policy["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["cloudwatch:DisableAlarmActions", "cloudwatch:EnableAlarmActions"],
            "Resource": sorted(f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{n}" for n in muted),
        }
    ]
    assert prod.of_type("aws:scheduler/schedule:Schedule") == []  # prod's nodes never sleep
