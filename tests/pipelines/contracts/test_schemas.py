import json
from pathlib import Path

import pytest

from pipelines.contracts import docs
from pipelines.contracts.errors import SchemaFileError, UnknownEventTypeError
from pipelines.contracts.schemas import PII_CLASSES, contract, event_types, load_contracts, read_schema_file

EVENT_TYPES = ["affiliate_click", "chart_interaction", "conversion", "page_view", "product_impression"]


def _all_fields(fields, prefix=""):
    for f in fields:
        yield prefix + f["name"], f
        for branch in f["type"] if isinstance(f["type"], list) else [f["type"]]:
            if isinstance(branch, dict) and branch.get("type") == "record":
                yield from _all_fields(branch["fields"], prefix + f["name"] + ".")


def test_every_event_type_of_the_brief_has_a_contract_and_the_dead_letter_too():
    assert event_types() == EVENT_TYPES
    assert sorted(load_contracts()) == sorted([*EVENT_TYPES, "dead_letter"])


@pytest.mark.parametrize("event_type", [*EVENT_TYPES, "dead_letter"])
def test_every_field_is_documented_and_pii_classes_are_known(event_type):
    c = contract(event_type)
    assert c.retention_days > 0
    for path, f in _all_fields(c.definition["fields"]):
        assert f.get("doc"), f"{event_type}.{path} has no doc"
        if "pii" in f:
            assert f["pii"] in PII_CLASSES, f"{event_type}.{path}: unknown PII class {f['pii']}"


def test_browser_events_share_one_identical_context():
    contexts = {
        t: next(f["type"] for f in contract(t).definition["fields"] if f["name"] == "context")
        for t in EVENT_TYPES
        if t != "conversion"
    }
    first = contexts["page_view"]
    assert all(ctx == first for ctx in contexts.values())
    names = [f["name"] for f in first["fields"]]
    for required in ("event_id",):
        assert required in [f["name"] for f in contract("page_view").definition["fields"]]
    for required in (
        "session_id",
        "session_index",
        "visitor_id",
        "device_created_at",
        "device_sent_at",
        "collector_received_at",
        "utm",
        "referrer",
        "consent_state",
        "geo_country",
        "ip_hash",
        "tracker_version",
        "site_id",
        "page_url",
        "page_path",
        "page_title",
        "device_class",
        "viewport_width",
        "language",
        "timezone",
    ):
        assert required in names


def test_personal_data_is_classified():
    pii = {p.path: p.pii_class for p in contract("affiliate_click").pii_fields()}
    assert pii == {
        "context.referrer": "free_text",
        "context.gclid": "visitor_id",
        "context.fbclid": "visitor_id",
        "context.msclkid": "visitor_id",
        "context.session_id": "visitor_id",
        "context.visitor_id": "visitor_id",
        "context.geo_country": "geo",
        "context.geo_region": "geo",
        "context.geo_city": "geo",
        "context.ip_hash": "ip_hash",
    }


def test_unknown_event_type_names_it_and_the_known_ones():
    with pytest.raises(
        UnknownEventTypeError,
        match=r"unknown event type 'add_to_cart'; known event types: affiliate_click, chart_interaction",
    ):
        contract("add_to_cart")


def test_malformed_schema_file_names_file_and_position(tmp_path: Path):
    bad = tmp_path / "broken.avsc"
    bad.write_text('{\n  "type": "record",\n  "name": "X",\n  "fields": [\n    {"name": "a" "type": "int"}\n  ]\n}\n')
    with pytest.raises(SchemaFileError, match=r"broken.avsc:5:18: invalid JSON: Expecting ',' delimiter"):
        read_schema_file(bad)


def test_invalid_avro_type_is_reported_with_the_file(tmp_path: Path):
    bad = tmp_path / "badtype.avsc"
    bad.write_text(json.dumps({"type": "record", "name": "X", "fields": [{"name": "a", "type": "integer"}]}))
    with pytest.raises(SchemaFileError, match=r"badtype.avsc: invalid Avro schema: .*integer"):
        read_schema_file(bad)


def test_contract_reference_in_docs_is_generated_from_the_schemas():
    assert docs.OUT.read_text(encoding="utf-8") == docs.render()
