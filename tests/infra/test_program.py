"""The whole program per stack under mocks: inventory, tags, IAM, sizing."""

from __future__ import annotations

import json
from collections import Counter

from tests.infra.conftest import Recorder, is_taggable, provider_tags

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
    assert {r.inputs["tags"]["component"] for r in dev.of_type("aws:s3/bucket:Bucket")} == {"lake"}


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
        if r.typ.startswith("aws:") and isinstance(r.inputs.get(k), str)
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
    assert inv["aws:ec2/natGateway:NatGateway"] == 1
    assert inv["aws:s3/bucket:Bucket"] == 5
    assert inv["aws:msk/cluster:Cluster"] == 1
    assert inv["aws:glue/schema:Schema"] == 6
    assert inv["aws:s3/bucketReplicationConfig:BucketReplicationConfig"] == 0
    assert inv["aws:costexplorer/costAllocationTag:CostAllocationTag"] == 0


def test_prod_inventory(prod: Recorder):
    inv = _inventory(prod)
    assert inv["aws:ec2/subnet:Subnet"] == 6
    assert inv["aws:ec2/natGateway:NatGateway"] == 3
    assert inv["aws:s3/bucket:Bucket"] == 7  # five + two replicas
    assert inv["aws:s3/bucketReplicationConfig:BucketReplicationConfig"] == 2
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
