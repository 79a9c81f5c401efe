"""Schema registration against moto's Glue API (the same boto3 calls as against AWS)."""

import json

import pytest

from pipelines.contracts.registry import GlueSchemaRegistry, main
from pipelines.contracts.schemas import EventContract, contract, load_contracts

pytestmark = pytest.mark.engines


def test_registering_every_schema_creates_version_one_with_backward_compatibility(glue, namespace):
    registry = GlueSchemaRegistry(glue, f"reg-{namespace}")
    result = registry.register_all()
    assert sorted(result) == sorted(load_contracts())
    assert {r.version_number for r in result.values()} == {1}
    assert all(r.created for r in result.values())
    schema = glue.get_schema(SchemaId={"RegistryName": f"reg-{namespace}", "SchemaName": "affiliate_click"})
    assert (schema["Compatibility"], schema["DataFormat"]) == ("BACKWARD", "AVRO")


def test_registering_unchanged_schemas_is_a_no_op_with_stable_version_ids(glue, namespace):
    registry = GlueSchemaRegistry(glue, f"reg-{namespace}")
    first = registry.register_all()
    second = registry.register_all()
    assert {t: r.version_id for t, r in second.items()} == {t: r.version_id for t, r in first.items()}
    assert not any(r.created for r in second.values())
    listed = glue.get_schema(SchemaId={"RegistryName": f"reg-{namespace}", "SchemaName": "page_view"})
    assert listed["LatestSchemaVersion"] == 1


def test_a_changed_schema_becomes_a_new_version_and_old_ids_still_resolve(glue, namespace):
    registry = GlueSchemaRegistry(glue, f"reg-{namespace}")
    v1 = registry.register_all()["conversion"]
    doc = json.loads(contract("conversion").canonical_text)
    doc["fields"].append({"name": "coupon", "type": ["null", "string"], "default": None, "doc": "Coupon code."})
    v2 = registry.register(EventContract("conversion", contract("conversion").path, doc, None))
    assert (v2.version_number, v2.created) == (2, True)
    assert v2.version_id != v1.version_id
    fresh = GlueSchemaRegistry(glue, f"reg-{namespace}")  # no cache
    import uuid

    assert fresh.writer_schema(uuid.UUID(v1.version_id)) == ("conversion", contract("conversion").canonical_text)


def test_register_command_prints_the_version_ids(local_engines, glue, namespace, capsys):
    assert main(["register", "--endpoint-url", local_engines.moto_url, "--registry-name", f"cli-{namespace}"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert sorted(printed) == sorted(load_contracts())
    assert all(len(v["version_id"]) == 36 for v in printed.values())
