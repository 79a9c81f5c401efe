from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.contracts import ContractError, load_schemas, load_topics
from tests.infra.conftest import FIXTURES, REPO


def test_schemas_are_discovered_by_glob_with_retention_and_pii():
    contracts = {c.event_type: c for c in load_schemas(FIXTURES / "schemas")}
    assert set(contracts) == {"page_view", "dead_letter"}
    pv = contracts["page_view"]
    assert pv.retention_days == 400
    assert [(p.path, p.pii_class) for p in pv.pii_fields] == [
        ("visitor_id", "visitor_id"),
        ("context.country", "geo"),
        ("context.ip_hash", "ip_hash"),
    ]
    columns = {c.name: (c.snowflake_type, c.nullable, c.pii_class) for c in pv.columns}
    assert columns == {
        "event_id": ("VARCHAR", False, None),
        "visitor_id": ("VARCHAR", False, "visitor_id"),
        "occurred_at": ("TIMESTAMP_NTZ(3)", False, None),
        "context": ("VARIANT", False, "ip_hash"),
        "title": ("VARCHAR", True, None),
    }


def test_repo_schemas_load():
    contracts = load_schemas(REPO / "schemas")
    assert {c.event_type for c in contracts} >= {
        "page_view",
        "chart_interaction",
        "product_impression",
        "affiliate_click",
        "conversion",
        "dead_letter",
    }


def test_unknown_pii_class_names_file_field_and_allowed_classes(tmp_path: Path):
    (tmp_path / "x.avsc").write_text(
        '{"type": "record", "name": "X", "retention_days": 1, "fields": [{"name": "f", "type": "string", "pii": "email"}]}'
    )
    with pytest.raises(ContractError, match=r"x\.avsc: field 'f' has pii class 'email'; allowed: ip_hash, visitor_id"):
        load_schemas(tmp_path)


def test_missing_retention_is_an_error(tmp_path: Path):
    (tmp_path / "x.avsc").write_text('{"type": "record", "name": "X", "fields": []}')
    with pytest.raises(ContractError, match="retention_days"):
        load_schemas(tmp_path)


def test_topics_merge_defaults_and_hash_the_file(tmp_path: Path):
    topics = load_topics(FIXTURES / "schemas" / "topics.yaml")
    by_name = {t.name: t for t in topics.topics}
    assert by_name["events.page_view"].partitions == 3
    assert by_name["events.page_view"].config == {"cleanup.policy": "delete", "retention.ms": "604800000"}
    assert by_name["events.dead_letter"].partitions == 1
    assert by_name["events.dead_letter"].config["retention.ms"] == "2592000000"
    copy = tmp_path / "topics.yaml"
    shutil.copy(FIXTURES / "schemas" / "topics.yaml", copy)
    copy.write_text(copy.read_text() + "\n# comment\n")
    assert load_topics(copy).sha256 != topics.sha256
