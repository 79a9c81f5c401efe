"""`dbt build` in the Snowflake dialect (dbt-snowflake) against a local fakesnow server.

RAW tables are created from ``infra.contracts.raw_columns`` (the definition Pulumi provisions) and
loaded with the known scenario's records as VARIANT, so sources → staging → marts all run in the
Snowflake dialect. Masking, grants and time travel cannot be exercised here (see docs/WAREHOUSE.md).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.contracts import load_schemas, raw_columns
from pipelines.batch.sources import EVENT_TYPES
from tests.dbt import scenario
from tests.dbt.conftest import REPO, run_dbt

FAKESNOW = Path(sys.executable).parent / "fakesnow"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"fakesnow exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"fakesnow did not listen on 127.0.0.1:{port} within {deadline_s}s: {log.read_text()[-2000:]}")


@dataclass(frozen=True)
class Fakesnow:
    cur: Any
    env: dict[str, str]
    work: Path


def load_raw(cur: Any, rows: list[dict[str, Any]]) -> None:
    """What the pipe's COPY puts in RECORD: the lake Parquet row ($1), the record as JSON text inside."""
    for row in rows:
        cur.execute(
            f"insert into RAW.EVENTS.{row['event_type'].upper()} "
            '("EVENT_ID", "RECORD", "_FILE_NAME", "_LOADED_AT") '
            "select %s, parse_json(%s), %s, current_timestamp()",
            (row["event_id"], json.dumps(row), f"event_type={row['event_type']}/x.parquet"),
        )


@pytest.fixture(scope="session")
def fakesnow_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fakesnow]:
    import snowflake.connector

    work = tmp_path_factory.mktemp("dbt-fakesnow")
    port = _free_port()
    log_path = work / "fakesnow.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([str(FAKESNOW), "-s", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, proc, log_path)
        con = snowflake.connector.connect(
            user="fake", password="snow", account="fakesnow", host="127.0.0.1", port=port, protocol="http",
            database="RAW", schema="EVENTS",
        )  # fmt: skip
        cur = con.cursor()
        for db in ("RAW", "TRANSFORMED", "REPORTING"):
            cur.execute(f"create database if not exists {db}")
        cur.execute("create schema if not exists RAW.EVENTS")
        for contract in load_schemas(REPO / "schemas"):
            if contract.event_type not in EVENT_TYPES:
                continue
            columns = ", ".join(f'"{c.name}" {c.snowflake_type}' for c in raw_columns(contract))
            cur.execute(f"create or replace table RAW.EVENTS.{contract.event_type.upper()} ({columns})")
        load_raw(cur, scenario.base_rows())
        env = {**os.environ, "AA_FAKESNOW_PORT": str(port)}
        # Unit tests (dialect-free attribution math) run on DuckDB: on fakesnow their fixture lookup
        # (`describe table`) intermittently sees no columns of an existing relation.
        run_dbt(["build", "--target", "fakesnow", "--exclude", "test_type:unit"], env, work, timeout=240)
        yield Fakesnow(cur, env, work)
        con.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_dbt_build_passes_in_the_snowflake_dialect_with_the_same_numbers(fakesnow_warehouse: Fakesnow):
    cur = fakesnow_warehouse.cur
    assert cur.execute("select count(*) from TRANSFORMED.STAGING.STG_EVENTS__PAGE_VIEWS").fetchall() == [(6,)]
    rows = cur.execute(
        "select utm_source, sessions, page_views, affiliate_clicks, conversions, commission "
        "from REPORTING.MARKETING.CAMPAIGN_EFFECTIVENESS order by utm_source"
    ).fetchall()
    assert [tuple(float(v) if not isinstance(v, str) else v for v in r) for r in rows] == [
        ("(none)", 2.0, 3.0, 1.0, 1.0, 4.0),  # the bot session is excluded, as on DuckDB
        ("google", 1.0, 1.0, 1.0, 0.0, 0.0),
        ("newsletter", 1.0, 1.0, 1.0, 1.0, 40.0),
    ]
    credits = cur.execute(
        "select touch_index, channel, linear_credit, position_based_credit from REPORTING.MARKETING.ATTRIBUTION "
        f"where conversion_id = '{scenario.uid('conv-a2')}' order by touch_index"
    ).fetchall()
    assert [(i, ch, float(a), float(b)) for i, ch, a, b in credits] == [
        (1, "paid_search", 0.5, 0.5),
        (2, "email", 0.5, 0.5),
    ]


def test_incremental_runs_in_the_snowflake_dialect_with_the_same_numbers(fakesnow_warehouse: Fakesnow):
    """The incremental path (reprocess point, anchors read from the table itself, the `replace`
    strategy, reprocessed days) in the Snowflake dialect: the late rows, the next day and its late
    rows (tests/dbt/test_incremental.py) land as on DuckDB. Runs after the full-build test."""
    wh = fakesnow_warehouse
    next_day = scenario.next_day_rows()
    for batch in (scenario.late_rows(), next_day, scenario.late_next_day_rows(next_day)):
        load_raw(wh.cur, batch)
        run_dbt(["run", "--target", "fakesnow"], wh.env, wh.work, timeout=240)
    cur = wh.cur
    sessions = cur.execute(
        "select session_number, session_start::varchar, page_views, affiliate_clicks "
        f"from TRANSFORMED.INTERMEDIATE.INT_SESSIONS where visitor_id = '{scenario.uid('F')}' order by session_start"
    ).fetchall()
    assert [(int(n), str(t)[:19], int(p), int(c)) for n, t, p, c in sessions] == [
        (1, "2026-11-21 07:00:00", 3, 2),
        (2, "2026-11-21 10:00:00", 1, 0),
    ]
    sessions_a = cur.execute(
        "select session_number, session_start::varchar from TRANSFORMED.INTERMEDIATE.INT_SESSIONS "
        f"where visitor_id = '{scenario.uid('A')}' order by session_start"
    ).fetchall()
    assert [(int(n), str(t)[:19]) for n, t in sessions_a] == [
        (1, "2026-11-20 01:00:00"),
        (2, "2026-11-20 03:00:00"),
        (3, "2026-11-21 05:50:00"),
    ]
    link = cur.execute(
        "select impressions, clicks, conversions, commission from REPORTING.PRODUCT.LINK_PERFORMANCE "
        "where activity_date = '2026-11-20' and position = 1"
    ).fetchall()
    assert [tuple(float(v) for v in r) for r in link] == [(2.0, 2.0, 2.0, 16.0)]
    chains = cur.execute(
        "select conversions, commission, impression_position from TRANSFORMED.INTERMEDIATE.INT_CLICK_CHAINS "
        f"where click_id in ('{scenario.uid('click-e-1')}', '{scenario.uid('click-f-2')}') order by click_time"
    ).fetchall()
    assert [tuple(float(v) for v in r) for r in chains] == [(1.0, 8.0, 3.0), (0.0, 0.0, 1.0)]
    assert cur.execute(
        "select count(*), count(distinct event_id) from TRANSFORMED.STAGING.STG_EVENTS__CONVERSIONS"
    ).fetchall() == [(6, 6)]


def test_hourly_run_loads_only_new_raw_rows_in_the_snowflake_dialect(fakesnow_warehouse: Fakesnow):
    """After the incremental test: the next batch (a new hour, events hours old, duplicates of
    loaded events) and batch 4 loaded again (a re-delivery: the same files, a new load time). Only
    rows of loads staging has not seen are read; duplicates never double count."""
    wh = fakesnow_warehouse
    next_day = scenario.next_day_rows()
    load_raw(wh.cur, scenario.new_batch_rows(next_day) + scenario.late_next_day_rows(next_day))
    run_dbt(["run", "--target", "fakesnow"], wh.env, wh.work, timeout=240)
    cur = wh.cur
    sessions = cur.execute(
        "select session_number, page_views from TRANSFORMED.INTERMEDIATE.INT_SESSIONS "
        f"where visitor_id = '{scenario.uid('F')}' order by session_start"
    ).fetchall()
    assert [(int(n), int(p)) for n, p in sessions] == [(1, 4), (2, 1)]
    for table in ("STG_EVENTS__PAGE_VIEWS", "STG_EVENTS__CONVERSIONS", "STG_EVENTS__AFFILIATE_CLICKS"):
        counts = cur.execute(f"select count(*), count(distinct event_id) from TRANSFORMED.STAGING.{table}").fetchall()
        assert counts[0][0] == counts[0][1], table
    chain = cur.execute(
        "select impression_position from TRANSFORMED.INTERMEDIATE.INT_CLICK_CHAINS "
        f"where click_id = '{scenario.uid('click-a3')}'"
    ).fetchall()
    assert [int(r[0]) for r in chain] == [1]
    conversions = cur.execute(
        "select count(*), sum(commission_amount) from TRANSFORMED.STAGING.STG_EVENTS__CONVERSIONS"
    ).fetchall()[0]
    assert (int(conversions[0]), float(conversions[1])) == (6, 86.0)
