"""The explorer's query layer: allow-list validation, SQL built from the allow-list only, and
answers equal to a direct query of the mart (DuckDB fixture shaped like dbt's explorer_daily)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import duckdb
import pytest

from pipelines.dashboard import explorer
from pipelines.dashboard.explorer import DIMENSIONS, METRICS, ParamError, Query, validate

TABLE = "self_service.explorer_daily"
GOOD = {"metric": ["clicks"], "dimension": ["merchant"], "from": ["2025-03-01"], "to": ["2025-03-21"]}

# The definitions written out independently of the module under test.
DIRECT = {
    "page_views": ("sum(page_views)", "1"),
    "clicks": ("sum(clicks)", "1"),
    "ctr": ("sum(clicks)", "sum(page_views)"),
    "conversions": ("sum(conversions)", "1"),
    "revenue": ("sum(revenue)", "1"),
    "epc": ("sum(commission)", "sum(clicks)"),
}


def direct(path, metric: str, dimension: str, start: str, end: str) -> dict[str, float | None]:
    num, den = DIRECT[metric]
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            f"select dimension_value, case when {den} = 0 then null else {num} * 1.0 / {den} end "
            f"from {TABLE} where dimension = ? and activity_date >= ? and activity_date <= ? group by 1",
            [dimension, start, end],
        ).fetchall()
    return {v: (None if m is None else float(m)) for v, m in rows}


class Spy:
    """A backend that records every query it is asked to run."""

    name = "spy"

    def __init__(self, inner: explorer.Backend | None = None) -> None:
        self.inner = inner
        self.calls: list[tuple[str, list[Any]]] = []

    def fetch(self, sql: str, params) -> list[tuple[Any, ...]]:
        self.calls.append((sql, list(params)))
        return self.inner.fetch(sql, params) if self.inner else []


def test_validate_accepts_allow_listed_names_and_dates():
    q = validate(GOOD, max_days=400, max_rows=200)
    assert q == Query("clicks", "merchant", q.start, q.end, 200)
    assert (q.end - q.start).days == 20


@pytest.mark.parametrize(
    ("change", "parameter", "reason"),
    [
        ({"metric": ["clicks; drop table x"]}, "metric", "is not one of"),
        ({"metric": ["sum(revenue)"]}, "metric", "is not one of"),
        ({"dimension": ["dimension_value"]}, "dimension", "is not one of"),
        ({"dimension": ["page' or '1'='1"]}, "dimension", "is not one of"),
        ({"from": ["2025-3-1"]}, "from", "is not a date"),
        ({"from": ["2025-02-30"]}, "from", "day is out of range"),
        ({"to": ["yesterday"]}, "to", "is not a date"),
        ({"from": ["2025-04-01"]}, "from", "is after"),
        ({"from": ["2020-01-01"]}, "to", "at most 400"),
        ({"limit": ["0"]}, "limit", "integer from 1 to 200"),
        ({"limit": ["1e3"]}, "limit", "integer from 1 to 200"),
        ({"sql": ["select 1"]}, "sql", "unknown parameter"),
        ({"metric": ["clicks", "revenue"]}, "metric", "exactly once"),
    ],
)
def test_validate_names_the_parameter_and_the_reason(change, parameter, reason):
    with pytest.raises(ParamError) as err:
        validate({**GOOD, **change}, max_days=400, max_rows=200)
    assert err.value.parameter == parameter
    assert reason in err.value.reason


def test_validate_requires_every_parameter():
    for missing in ("metric", "dimension", "from", "to"):
        with pytest.raises(ParamError) as err:
            validate({k: v for k, v in GOOD.items() if k != missing}, max_days=400, max_rows=200)
        assert err.value.parameter == missing


def test_sql_text_depends_only_on_the_metric_and_binds_every_value():
    for metric in METRICS:
        texts = set()
        for dimension in DIMENSIONS:
            q = validate({**GOOD, "metric": [metric], "dimension": [dimension]}, 400, 200)
            sql, params = explorer.build_sql(q, TABLE)
            texts.add(sql)
            assert params == [dimension, q.start, q.end, 200]
            assert METRICS[metric][1] in sql
        assert len(texts) == 1, "dimension and dates are bound parameters, never SQL text"


@pytest.mark.parametrize("metric", list(METRICS))
@pytest.mark.parametrize("dimension", ["page", "campaign", "merchant", "position", "segment"])
def test_explore_equals_a_direct_query_of_the_mart(warehouse, metric, dimension):
    q = validate(
        {**GOOD, "metric": [metric], "dimension": [dimension], "from": ["2025-03-03"], "to": ["2025-03-17"]}, 400, 200
    )
    result = explorer.explore(explorer.DuckDBBackend(warehouse), TABLE, q)
    want = direct(warehouse, metric, dimension, "2025-03-03", "2025-03-17")
    got = {r["value"]: r["metric"] for r in result["rows"]}
    assert set(got) == set(want)
    for value, expected in want.items():
        if expected is None:
            assert got[value] is None, value
        else:
            assert got[value] == pytest.approx(expected, rel=1e-9), value
    shown = [r["metric"] for r in result["rows"] if r["metric"] is not None]
    assert shown == sorted(shown, reverse=True)
    assert len(result["days"]) == 15
    assert [s["value"] for s in result["series"]] == [r["value"] for r in result["rows"][:5]]


def test_series_sum_to_the_table_for_additive_metrics(warehouse):
    q = validate({**GOOD, "metric": ["revenue"], "dimension": ["country"]}, 400, 200)
    result = explorer.explore(explorer.DuckDBBackend(warehouse), TABLE, q)
    for s in result["series"]:
        row = next(r for r in result["rows"] if r["value"] == s["value"])
        assert math.fsum(p or 0 for p in s["points"]) == pytest.approx(row["metric"])


def test_options_lists_the_allow_lists_and_the_dates_covered(warehouse):
    doc = explorer.options(explorer.DuckDBBackend(warehouse), TABLE)
    assert [m["name"] for m in doc["metrics"]] == ["page_views", "clicks", "ctr", "conversions", "revenue", "epc"]
    assert [d["name"] for d in doc["dimensions"]] == list(DIMENSIONS)
    assert (doc["min_date"], doc["max_date"]) == ("2025-03-01", "2025-03-21")


def test_csv_has_the_table_and_neutralises_formulas(warehouse):
    q = validate({**GOOD, "metric": ["clicks"], "dimension": ["campaign"]}, 400, 200)
    result = explorer.explore(explorer.DuckDBBackend(warehouse), TABLE, q)
    rows = list(csv.reader(io.StringIO(explorer.to_csv(result))))
    assert rows[0] == ["campaign", "clicks", "page_views", "clicks", "conversions", "revenue", "commission"]
    assert {r[0] for r in rows[1:]} == {"spring_sale", "newsletter", "'=1+1", "(none)"}
    assert [int(r[1]) for r in rows[1:]] == [r["metric"] for r in result["rows"]]


def test_missing_warehouse_file_is_a_warehouse_error_that_names_the_file(tmp_path):
    backend = explorer.DuckDBBackend(tmp_path / "nope.duckdb")
    with pytest.raises(explorer.WarehouseError, match=r"nope\.duckdb: no warehouse file"):
        explorer.options(backend, TABLE)


def test_missing_table_is_a_warehouse_error(tmp_path):
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(explorer.WarehouseError, match="explorer_daily"):
        explorer.options(explorer.DuckDBBackend(path), TABLE)


def test_duckdb_connection_is_read_only(warehouse):
    backend = explorer.DuckDBBackend(warehouse)
    with pytest.raises(explorer.WarehouseError, match="read-only"):
        backend.fetch(f"delete from {TABLE}", [])


def test_snowflake_backend_builds_a_bi_reader_connection_without_connecting():
    from pipelines.dashboard.config import load_config

    cfg = load_config(
        {"backend": "snowflake"},
        env={
            "AA_DASHBOARD_SNOWFLAKE_ACCOUNT": "xy12345.eu-west-1",
            "AA_DASHBOARD_SNOWFLAKE_USER": "DASHBOARD",
            "AA_DASHBOARD_SNOWFLAKE_PRIVATE_KEY_PATH": "/run/secrets/dashboard.p8",
        },
    )
    assert cfg.snowflake is not None
    backend = explorer.SnowflakeBackend(cfg.snowflake)
    args = backend.connect_args()
    assert args["role"] == "BI_READER"
    assert args["database"] == "REPORTING"
    assert args["private_key_file"] == "/run/secrets/dashboard.p8"
    assert args["paramstyle"] == "qmark"
    assert "password" not in args
