"""The quality rules without engines: config errors, the balance check, robust volume statistics,
drift distances, incident deduplication and resolution, the report's rendering."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pipelines.quality import alerts, monitors, report, store
from pipelines.quality.config import ConfigError, Locations, load_config
from pipelines.quality.ledger import Ledger, balance

M = 29_000_000  # a receive minute


def _ledger(counts: dict[str, int], hops=("collector", "kafka", "stream", "lake", "warehouse"), et="page_view", m=M):
    led = Ledger()
    led.measured |= set(hops)
    for k, n in counts.items():
        led.add(m, et, k, n)
    return led


CLEAN = {
    "collector.accepted": 10,
    "kafka.records": 10,
    "stream.read": 10,
    "stream.valid": 9,
    "stream.invalid:business_rule": 1,
    "stream.written": 8,
    "lake.rows": 8,
    "lake.first": 8,
    "warehouse.raw": 8,
    "warehouse.staged": 8,
}


def test_a_window_balances_when_every_hop_agrees_and_the_equation_holds():
    [b] = balance(_ledger(CLEAN), now_s=(M + 10) * 60, stream_allowance_min=5, warehouse_allowance_min=5)
    assert (b.status, b.hop) == ("balanced", None)
    assert (b.received, b.written, b.invalid, b.duplicate, b.late, b.in_flight) == (10, 8, 1, 1, 0, 0)
    assert b.received == b.written + b.invalid + b.duplicate + b.late + b.in_flight


@pytest.mark.parametrize(
    ("change", "hop", "edge"),
    [
        ({"lake.rows": 6, "warehouse.raw": 6}, "lake", "stream.written → lake.rows"),
        ({"warehouse.staged": 7}, "warehouse", "lake.first → warehouse.staged"),
        ({"stream.read": 7, "stream.valid": 6}, "stream", "collector.accepted → stream.received"),
        ({"kafka.records": 7, "stream.read": 7, "stream.valid": 6}, "kafka", "collector.accepted → stream.received"),
    ],
)
def test_a_window_that_does_not_balance_names_the_hop_where_counts_diverge(change, hop, edge):
    counts = {**CLEAN, **change}
    [b] = balance(_ledger(counts), now_s=(M + 10) * 60, stream_allowance_min=5, warehouse_allowance_min=5)
    assert (b.status, b.hop, b.gaps[0].edge) == ("unbalanced", hop, edge)


def test_a_young_window_with_missing_counts_is_in_flight_not_an_incident():
    counts = {**CLEAN, "stream.valid": 5, "stream.written": 4, "lake.rows": 4}
    [b] = balance(_ledger(counts), now_s=(M + 3) * 60, stream_allowance_min=5, warehouse_allowance_min=90)
    assert (b.status, b.in_flight) == ("in_flight", 4)
    [old] = balance(_ledger(counts), now_s=(M + 7) * 60, stream_allowance_min=5, warehouse_allowance_min=90)
    assert old.status == "unbalanced"


def test_redeliveries_the_stream_deduplicated_do_not_unbalance_the_collector_edge():
    counts = {**CLEAN, "kafka.records": 12, "stream.read": 12, "stream.valid": 11}  # replay sent 2 twice
    [b] = balance(_ledger(counts), now_s=(M + 10) * 60, stream_allowance_min=5, warehouse_allowance_min=5)
    assert (b.status, b.duplicate) == ("balanced", 3)


def test_bad_config_names_the_file_the_key_and_the_allowed_values(tmp_path: Path):
    bad = tmp_path / "quality.yaml"
    bad.write_text("volume:\n  sensitivity: -1\n  sensitivty: 3\nfreshness:\n  slo_minutes: {lakehouse: 5}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(bad)
    text = str(exc.value)
    assert f"{bad}: key 'volume.sensitivity': Input should be greater than 0 (got -1)" in text
    assert f"{bad}: key 'volume.sensitivty': unknown key; allowed: history_weeks, min_change" in text
    assert "key 'freshness.slo_minutes.lakehouse.[key]': 'lakehouse' is not allowed; allowed: 'kafka', 'redis'" in text


def test_the_packaged_rules_file_is_valid():
    cfg = load_config()
    assert cfg.volume.min_history_weeks == 3
    assert set(cfg.freshness.slo_minutes) == {"kafka", "redis", "lake", "warehouse", "marts"}


def test_volume_is_silent_without_enough_history_and_alerts_on_a_robust_drop(tmp_path: Path):
    cfg = load_config()
    hour = 500_000
    row = {"minute": hour * 60, "event_type": "page_view", "received": 1000, "counts": {}}
    store.write_rows(tmp_path, hour, [{**row, "received": 400}], 0)
    for k in (1, 2):
        store.write_rows(tmp_path, hour - 168 * k, [{**row, "minute": (hour - 168 * k) * 60}], 0)
    assert monitors.volume_findings(tmp_path, hour, cfg) == []  # two weeks: no baseline yet
    store.write_rows(tmp_path, hour - 168 * 3, [{**row, "minute": (hour - 168 * 3) * 60, "received": 960}], 0)
    [f] = monitors.volume_findings(tmp_path, hour, cfg)
    assert (f.key, f.severity, f.title) == ("volume/page_view", "warning", "volume drop for page_view")
    assert "-60% against the same hour of week (median 1000 over 3 weeks" in f.message


def test_drift_compares_the_mix_by_total_variation_and_the_ctr_by_relative_change():
    cfg = load_config()
    base = {
        "events": 1000,
        "device": {"desktop": 600, "mobile": 400},
        "channel": {"direct": 1},
        "impressions": 1000,
        "clicks": 50,
    }
    same = dict(base)
    assert monitors.drift_findings(same, base, cfg) == []
    moved = {**base, "device": {"desktop": 300, "mobile": 700}, "clicks": 20}
    found = {f.key: f for f in monitors.drift_findings(moved, base, cfg)}
    assert set(found) == {"drift/device", "drift/ctr"}
    assert found["drift/device"].details["distance"] == 0.3
    assert monitors.total_variation({"a": 1}, {"b": 1}) == 1.0


def test_an_incident_alerts_once_and_resolves_once(tmp_path: Path):
    book = alerts.IncidentBook(tmp_path / "incidents.json")
    finding = monitors.Finding("volume/page_view", "volume", "warning", "volume drop", "down 60%")
    first = book.update([finding], 1000)
    assert [(n.kind, n.incident.key) for n in first] == [("alert", "volume/page_view")]
    for n in first:
        book.delivered(n)
    book.save()
    again = alerts.IncidentBook(tmp_path / "incidents.json")  # state survives between runs
    assert again.update([finding], 1300) == []
    cleared = again.update([], 1600)
    assert [(n.kind, n.incident.resolved_at) for n in cleared] == [("resolved", "1970-01-01T00:26:40+00:00")]
    for n in cleared:
        again.delivered(n)
    assert again.active() == []
    assert [h["event"] for h in again.history] == ["opened", "resolved"]


def test_a_failed_delivery_is_retried_on_the_next_pass(tmp_path: Path):
    class Down:
        name = "down"
        calls = 0

        def send(self, note, source):
            Down.calls += 1
            if Down.calls == 1:
                raise ConnectionError("webhook unreachable")

    book = alerts.IncidentBook(tmp_path / "incidents.json")
    f = monitors.Finding("freshness/lake", "freshness", "warning", "lake is stale", "12 min behind")
    errors = alerts.deliver(book.update([f], 10), [Down()], book, "test")
    assert errors == ["down: alert freshness/lake: ConnectionError: webhook unreachable"]
    assert alerts.deliver(book.update([f], 20), [Down()], book, "test") == []
    assert Down.calls == 2
    assert alerts.deliver(book.update([f], 30), [Down()], book, "test") == []
    assert Down.calls == 2


def test_the_report_renders_the_days_ledger_in_markdown_and_html(tmp_path: Path):
    day = date(2026, 11, 24)
    hour = int(datetime(2026, 11, 24, 14, tzinfo=UTC).timestamp()) // 3600
    base = {
        "event_type": "affiliate_click",
        "received": 120,
        "accepted": 120,
        "written": 117,
        "invalid": 2,
        "duplicate": 1,
    }
    store.write_rows(
        tmp_path / "ledger",
        hour,
        [
            {**base, "minute": hour * 60},
            {**base, "minute": hour * 60 + 1, "status": "unbalanced", "hop": "lake", "written": 100},
        ],
        0,
    )
    loc = Locations("redis://x", None, None, None, None, tmp_path, None, None, {}, None)
    built = report.build_report(day, load_config(), loc, tmp_path / "ledger")
    md = report.to_markdown(built)
    assert (
        "| 14:00 | affiliate_click | 240 | 240 | 0 | 217 | 4 | 2 | 0 | 0 | 0 | 2 | balanced 1, unbalanced 1 (hop: lake) |"
        in md
    )
    assert "**1 window(s) do not balance.**" in md
    page = report.to_html(built)
    assert "<td class='num'>217</td>" in page
    assert "<strong>1 window(s) do not balance.</strong>" in page


def test_dbt_test_failures_and_source_freshness_become_findings(tmp_path: Path):
    from pipelines.batch import runner

    results = {
        "results": [
            {"unique_id": "model.aa.attribution", "status": "success"},
            {
                "unique_id": "test.aa.unique_attribution_conversion_id.1a2b",
                "status": "fail",
                "message": "Got 3 results",
            },
            {"unique_id": "test.aa.not_null_stg_events__affiliate_clicks_click_id", "status": "pass"},
        ]
    }
    step = runner.summarize("build", ["build"], 1, 12.0, results)
    report = runner.RunReport("run hourly", "local", "2026-11-25T10:00:00+00:00", 12.0, False, [step])
    runner.write_report(report, tmp_path / "reports")
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "sources.json").write_text(
        json.dumps(
            {
                "results": [
                    {"unique_id": "source.aa.raw.page_view", "status": "warn", "max_loaded_at_time_ago_in_s": 9000},
                    {"unique_id": "source.aa.raw.conversion", "status": "pass", "max_loaded_at_time_ago_in_s": 60},
                ]
            }
        )
    )
    found = {f.key: f for f in monitors.dbt_findings(tmp_path, load_config())}
    assert set(found) == {"dbt/test.aa.unique_attribution_conversion_id.1a2b", "dbt_freshness/source.aa.raw.page_view"}
    failed = found["dbt/test.aa.unique_attribution_conversion_id.1a2b"]
    assert (failed.severity, failed.title) == ("critical", "dbt test failed: unique_attribution_conversion_id")
    assert "Got 3 results" in failed.message
    stale = found["dbt_freshness/source.aa.raw.page_view"]
    assert (stale.severity, stale.message) == (
        "warning",
        "source.aa.raw.page_view: freshness warn, newest row loaded 2.5 h ago",
    )


def test_the_warehouse_hop_on_snowflake_counts_raw_and_staged_rows_per_receive_minute():
    """The Snowflake SQL of the warehouse hop, run on fakesnow (Snowflake dialect on DuckDB)."""
    import fakesnow
    import snowflake.connector

    from pipelines.quality.ledger import read_warehouse_snowflake

    t0 = M * 60_000
    with fakesnow.patch():
        con = snowflake.connector.connect()
        cur = con.cursor()
        for ddl in (
            "create database RAW",
            "create schema RAW.EVENTS",
            "create database TRANSFORMED",
            "create schema TRANSFORMED.STAGING",
        ):
            cur.execute(ddl)
        for et, table in {
            "page_view": "page_views",
            "product_impression": "product_impressions",
            "chart_interaction": "chart_interactions",
            "affiliate_click": "affiliate_clicks",
            "conversion": "conversions",
        }.items():
            cur.execute(f"create table RAW.EVENTS.{et.upper()} (RECORD variant)")
            cur.execute(
                f"create table TRANSFORMED.STAGING.STG_EVENTS__{table.upper()} (EVENT_ID varchar, RECEIVED_AT timestamp_ntz)"
            )
        rows = [("a", t0 + 1000), ("a", t0 + 2000), ("b", t0 + 61_000)]  # a delivered twice, b a minute later
        for event_id, ms in rows:
            cur.execute(
                "insert into RAW.EVENTS.PAGE_VIEW select parse_json(%s)",
                (json.dumps({"event_id": event_id, "received_ms": ms}),),
            )
        for event_id, ms in (("a", t0 + 1000), ("b", t0 + 61_000)):
            cur.execute(
                "insert into TRANSFORMED.STAGING.STG_EVENTS__PAGE_VIEWS values (%s, to_timestamp_ntz(%s, 3))",
                (event_id, ms),
            )
        led = read_warehouse_snowflake(con, M, M + 5)
    assert {k: dict(v) for k, v in led.counts.items()} == {
        (M, "page_view"): {"warehouse.raw": 2, "warehouse.raw_first": 1, "warehouse.staged": 1},
        (M + 1, "page_view"): {"warehouse.raw": 1, "warehouse.raw_first": 1, "warehouse.staged": 1},
    }
    # without a lake reader (S3 in the cloud) the warehouse is reconciled with what the stream wrote
    led.measured |= {"collector", "stream"}
    led.add(M, "page_view", "collector.accepted", 2)
    led.add(M, "page_view", "stream.valid", 2)
    led.add(M, "page_view", "stream.written", 1)
    first = balance(led, now_s=(M + 300) * 60, stream_allowance_min=5, warehouse_allowance_min=90)[0]
    assert (first.status, first.hop, first.gaps[0].edge) == (
        "unbalanced",
        "warehouse",
        "stream.written → warehouse.raw",
    )


def test_the_report_command_writes_a_days_report_where_it_is_told(tmp_path: Path, capsys):
    from pipelines.quality.__main__ import main

    where = ["--state-dir", str(tmp_path / "state"), "--lake-dir", str(tmp_path / "lake")]
    assert main(["report", "--day", "2026-11-25", *where, "--batch-dir", str(tmp_path / "batch")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["day"], out["markdown"]) == ("2026-11-25", str(tmp_path / "state" / "reports" / "2026-11-25.md"))
    text = (tmp_path / "state" / "reports" / "2026-11-25.md").read_text()
    assert text.startswith("# Data-quality report 2026-11-25\n")
    assert "No ledger windows recorded for this day." in text
