"""Access audit mart (dbt/models/governance) on DuckDB over a seeded stand-in of Snowflake's
ACCOUNT_USAGE.ACCESS_HISTORY and QUERY_HISTORY: exactly the PII columns read, by whom, with which
role, when and through which query; incremental runs add new queries without duplicating old ones."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import duckdb

from tests.dbt.conftest import run_dbt

Obj = tuple[str, list[str]]


def _objects(*objects: Obj) -> str:
    return json.dumps(
        [
            {"objectName": name, "objectDomain": "Table", "columns": [{"columnName": c} for c in cols]}
            for name, cols in objects
        ]
    )


RAW_CLICK = "RAW.EVENTS.AFFILIATE_CLICK"
STG_CLICKS = "WAREHOUSE.STAGING.STG_EVENTS__AFFILIATE_CLICKS"  # the model in the DuckDB file `warehouse`
T0 = dt.datetime(2026, 11, 20, 9, 0)
# (query id, start, user, direct objects, base objects, role, query type, warehouse)
QUERIES = [
    # a PII reader selects the referrer and a non-PII column straight from RAW
    ("q1", T0, "JANE", [(RAW_CLICK, ["REFERRER", "EVENT_ID"])], [(RAW_CLICK, ["REFERRER", "EVENT_ID"])],
     "PII_READER", "SELECT", "BI"),
    # a BI user reads a view whose base table holds visitor_id: only the base object is PII
    ("q2", T0 + dt.timedelta(hours=1), "DASHBOARD_SVC", [("REPORTING.MARKETING.CLICKS_V", ["VISITOR"])],
     [(STG_CLICKS, ["VISITOR_ID", "SITE_ID"])], "BI_READER", "SELECT", "BI"),
    # no PII column at all
    ("q3", T0 + dt.timedelta(hours=2), "JANE", [(RAW_CLICK, ["EVENT_ID", "SITE_ID"])], [(RAW_CLICK, ["EVENT_ID"])],
     "ANALYST", "SELECT", "BI"),
    # names in another case still match; two PII columns of one table
    ("q4", T0 + dt.timedelta(hours=3), "TRANSFORMER_SVC", [("raw.events.affiliate_click", ["ip_hash", "geo_city"])],
     [("raw.events.affiliate_click", ["ip_hash", "geo_city"])], "TRANSFORMER", "CREATE_TABLE_AS_SELECT", "TRANSFORMING"),
]  # fmt: skip
LATER = ("q5", T0 + dt.timedelta(days=1), "MALLORY", [(RAW_CLICK, ["GCLID"])], [(RAW_CLICK, ["GCLID"])],
         "SYSADMIN", "UNLOAD", "BI")  # fmt: skip


def _seed(db: Path, queries: list[tuple]) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("create schema if not exists account_usage")
        con.execute(
            "create or replace table account_usage.access_history (query_id varchar, query_start_time timestamp, "
            "user_name varchar, direct_objects_accessed json, base_objects_accessed json)"
        )
        con.execute(
            "create or replace table account_usage.query_history "
            "(query_id varchar, role_name varchar, query_type varchar, warehouse_name varchar)"
        )
        for qid, start, user, direct, base, role, qtype, wh in queries:
            con.execute(
                "insert into account_usage.access_history values (?, ?, ?, ?, ?)",
                [qid, start, user, _objects(*direct), _objects(*base)],
            )
            con.execute("insert into account_usage.query_history values (?, ?, ?, ?)", [qid, role, qtype, wh])


def _rows(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(
            "select query_id, query_start_time, user_name, role_name, query_type, warehouse_name, object_name, "
            "column_name, pii_class, via_direct_access from audit.pii_column_access order by 1, 7, 8"
        ).fetchall()


def test_access_audit_lists_each_pii_column_read_by_user_role_time_and_query(tmp_path: Path):
    db = tmp_path / "warehouse.duckdb"
    env = {**os.environ, "AA_WAREHOUSE_PATH": str(db), "AA_LAKE_DIR": str(tmp_path / "lake"), "AA_DBT_TARGET": "local"}
    args = ["build", "--select", "governance", "--vars", "{access_audit_standin: true}"]
    _seed(db, QUERIES)
    run_dbt(args, env, tmp_path / "dbt")
    first = [
        ("q1", T0, "JANE", "PII_READER", "SELECT", "BI", RAW_CLICK, "REFERRER", "free_text", True),
        ("q2", T0 + dt.timedelta(hours=1), "DASHBOARD_SVC", "BI_READER", "SELECT", "BI", STG_CLICKS, "VISITOR_ID",
         "visitor_id", False),
        ("q4", T0 + dt.timedelta(hours=3), "TRANSFORMER_SVC", "TRANSFORMER", "CREATE_TABLE_AS_SELECT", "TRANSFORMING",
         RAW_CLICK, "GEO_CITY", "geo", True),
        ("q4", T0 + dt.timedelta(hours=3), "TRANSFORMER_SVC", "TRANSFORMER", "CREATE_TABLE_AS_SELECT", "TRANSFORMING",
         RAW_CLICK, "IP_HASH", "ip_hash", True),
    ]  # fmt: skip
    assert _rows(db) == first
    _assert_pii_columns_come_from_the_schemas(db)

    _seed(db, [*QUERIES, LATER])  # ACCOUNT_USAGE grows; the incremental run re-reads the last day
    run_dbt(args, env, tmp_path / "dbt")  # same target dir: partial parse
    assert _rows(db) == [
        *first,
        (
            "q5",
            T0 + dt.timedelta(days=1),
            "MALLORY",
            "SYSADMIN",
            "UNLOAD",
            "BI",
            RAW_CLICK,
            "GCLID",
            "visitor_id",
            True,
        ),
    ]


def _assert_pii_columns_come_from_the_schemas(db: Path) -> None:
    """pii_columns lists, for RAW, exactly the PII columns infra.contracts derives from schemas/ (for the
    event types the generated dbt sources declare: RAW.EVENTS.DEAD_LETTER is not a dbt source)."""
    from infra.contracts import load_schemas, raw_columns
    from pipelines.batch.sources import EVENT_TYPES
    from policies.rules.platform import pii_classes_in_schemas

    repo = Path(__file__).resolve().parents[2]
    expected = {
        (f"RAW.EVENTS.{c.event_type.upper()}", col.name, col.pii_class)
        for c in load_schemas(repo / "schemas")
        for col in raw_columns(c)
        if col.pii_class is not None and c.event_type in EVENT_TYPES
    }
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.sql("select object_name, column_name, pii_class from audit.pii_columns").fetchall()
    assert {r for r in rows if r[0].startswith("RAW.EVENTS.")} == expected
    assert {r[2] for r in rows} == pii_classes_in_schemas()
