"""The dbt sources are generated from infra.contracts; the generator writes the stream's lake layout."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from infra.contracts import load_schemas, raw_columns
from pipelines.batch import generate, sources

REPO = Path(__file__).resolve().parents[3]


def test_committed_dbt_sources_are_up_to_date():
    for path, text in sources.render().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `python -m pipelines.batch.sources`"


def test_raw_sources_have_exactly_the_raw_table_columns_that_infra_provisions():
    contracts = {c.event_type: c for c in load_schemas(REPO / "schemas")}
    doc = yaml.safe_load((REPO / "dbt/models/staging/_raw__sources.yml").read_text())
    (raw,) = doc["sources"]
    assert (raw["database"], raw["schema"]) == ("RAW", "EVENTS")
    for table in raw["tables"]:
        expected = raw_columns(contracts[table["name"]])
        assert table["identifier"] == table["name"].upper()
        assert [(c["name"], c["data_type"]) for c in table["columns"]] == [(c.name, c.snowflake_type) for c in expected]
        assert {c["name"]: c.get("meta", {}).get("pii") for c in table["columns"]} == {
            c.name: c.pii_class for c in expected
        }
    assert {t["name"] for t in raw["tables"]} == set(sources.EVENT_TYPES)


def test_staging_pii_meta_matches_the_schema_pii_classes():
    from pipelines.contracts.schemas import load_contracts

    contracts = load_contracts()
    renamed = {"client_session_id": "context.session_id", "visitor_id": "context.visitor_id"}
    for path in sorted((REPO / "dbt/models/staging").glob("stg_events__*.yml")):
        model = yaml.safe_load(path.read_text())["models"][0]
        sql = (REPO / "dbt/models/staging" / f"{model['name']}.sql").read_text()
        event_type = sql.split("events_source('")[1].split("'")[0]
        pii = {p.path: p.pii_class for p in contracts[event_type].pii_fields()}
        for column in model["columns"]:
            name = column["name"]
            source = renamed.get(name) or (f"context.{name}" if f"context.{name}" in pii else name)
            assert column.get("meta", {}).get("pii") == pii.get(source), f"{path.name}: {name}"


def test_generator_columns_match_the_stream_lake_columns():
    lake = pytest.importorskip("pipelines.streaming.lake")
    assert generate.LAKE_COLUMNS == lake.LAKE_COLUMNS
    assert lake.lake_schema() == generate.LAKE_SCHEMA


def test_generator_writes_hive_partitions_with_duplicates_late_events_and_bots(tmp_path: Path):
    rows = generate.generate_rows(generate.GenerateOptions(sessions=300, seed=3))
    files = generate.write_lake(rows, tmp_path, batch_id=4)
    assert files
    assert all(f.relative_to(tmp_path).parts[0].startswith("event_type=") for f in files)
    table = pq.read_table(files[0])
    assert table.schema == generate.LAKE_SCHEMA
    ids = [r["event_id"] for r in rows]
    assert len(ids) > len(set(ids))  # seeded duplicates
    assert any(r["is_bot"] for r in rows)
    assert any(r["received_ms"] - r["event_time_ms"] >= 3_600_000 for r in rows if r["event_type"] != "conversion")
    assert generate.generate_rows(generate.GenerateOptions(sessions=300, seed=3)) == rows  # deterministic
    total = sum(pq.read_metadata(f).num_rows for f in files)
    assert total == len(rows)
