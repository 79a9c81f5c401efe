"""The dashboard and the quality monitor on the real pipeline: generated traffic → collector → Kafka →
Spark stream → Redis + lake, and dbt on DuckDB. One pipeline run is shared by the module (the most
expensive fixture of the suite); tests run in file order and each leaves the pipeline fully processed,
except the last, which appends Kafka records the stream never reads.

- the quality ledger balances exactly in every window; deleting lake files (on a copy) raises one
  incident naming the lake;
- Chromium shows what Redis holds, updates in place when the stream processes more traffic, shows
  the ledger and open incidents, and the explorer equals a direct query of the dbt-built warehouse;
- Kafka records the stream skipped raise an incident naming the stream, and the layers behind Kafka
  raise freshness alerts."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from datetime import date

import duckdb
import pytest
import redis
from confluent_kafka import Producer

from pipelines import demo
from pipelines.contracts.topics import load_topics
from pipelines.dashboard import quality, realtime
from pipelines.kafka_io import record_counts
from pipelines.quality import monitor, report
from pipelines.quality.config import Locations, QualityConfig, load_config
from tests.conftest import fixed_port, reset_pipeline_state

from .test_browser import SHOWN, assert_shown_equals_redis
from .test_explorer import direct

pytestmark = pytest.mark.engines
COMBOS = [("clicks", "merchant"), ("ctr", "page"), ("revenue", "country")]
TRAFFIC: dict[str, int] = {}  # what the fixture's traffic step reported (accepted, rejected, postbacks)


@pytest.fixture(scope="module")
def pipeline(local_engines, tmp_path_factory) -> Iterator[demo.Demo]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AA_DEMO_COLLECTOR_PORT", str(fixed_port(28380)))
        mp.setenv("AA_DEMO_DASHBOARD_PORT", str(fixed_port(28390)))
        reset_pipeline_state(local_engines)
        run = demo.Demo(local_engines, tmp_path_factory.mktemp("real-pipeline"), sessions=20, seed=11)
        try:
            run.contracts()
            # the collector's hop of the quality ledger: per-minute counts in Redis
            run.start_collector(ledger_redis_url=local_engines.redis_url, ledger_flush_interval_s=0.2)
            TRAFFIC.update(run.traffic())
            run.stream(finish=True)
            run.warehouse_build()
            yield run
        finally:
            run.stop_all()


# --------------------------------------------------------------------------- quality monitor


def locations(run: demo.Demo, engines, name: str, **changes) -> Locations:
    state = run.work / name
    base = Locations(
        redis_url=engines.redis_url,
        kafka_bootstrap=engines.kafka_bootstrap,
        lake_dir=run.lake,
        warehouse_path=run.warehouse,
        batch_dir=run.work / "batch",
        state_dir=state,
        sink_file=state / "alerts.jsonl",
        webhook_url=None,
        sns_topics={},
        aws_endpoint=engines.moto_url,
    )
    return dataclasses.replace(base, **changes)


def rules(**overrides) -> QualityConfig:
    doc: dict = {"ledger": {"stream_lag_allowance_minutes": 1, "warehouse_lag_allowance_minutes": 1}}
    for k, v in overrides.items():
        doc.setdefault(k, {}).update(v)
    return load_config(overrides=doc)


def sink(loc: Locations) -> list[dict]:
    assert loc.sink_file is not None
    return [json.loads(line) for line in loc.sink_file.read_text().splitlines()] if loc.sink_file.exists() else []


def test_the_quality_ledger_of_a_clean_workload_balances_exactly_in_every_window(pipeline, local_engines):
    loc = locations(pipeline, local_engines, "clean")
    result = monitor.run_pass(rules(), loc, now_s=time.time() + 150)  # every window past its allowance

    assert result.findings == []
    assert result.balances
    assert {b.status for b in result.balances} == {"balanced"}
    stats = TRAFFIC
    dead = [b for b in result.balances if b.event_type == "dead_letter"]
    events = [b for b in result.balances if b.event_type != "dead_letter"]
    # every event the collector took in is accounted for: written + invalid + duplicate (+ late: none)
    received = sum(b.received for b in result.balances)
    assert received == stats["accepted"] + stats["rejected"] + stats["postbacks"] + 1  # + the /r redirect click
    written = sum(b.written for b in events)
    assert received == written + sum(b.invalid for b in result.balances) + sum(b.duplicate for b in events)
    assert sum(b.duplicate for b in events) == 1  # the redirect repeats a click already sent
    assert sum(b.rejected for b in dead) == stats["rejected"]
    for b in events:  # every hop agrees, window by window
        c = Counter(b.counts)
        assert c["collector.accepted"] == c["stream.valid"] + c["stream.late"], b
        assert c["stream.written"] == c["lake.rows"] == c["warehouse.raw"], b
        assert c["lake.first"] == c["warehouse.staged"], b
    lake = (
        duckdb.connect()
        .execute(f"select count(*) from read_parquet('{pipeline.lake}/event_type=*/*/*/*.parquet')")
        .fetchone()
    )
    assert lake == (written,)
    topics = [t.name for t in load_topics() if t.event_type != "dead_letter"]
    on_kafka = sum(record_counts(local_engines.kafka_bootstrap, topics).values())
    assert sum(b.counts.get("kafka.records", 0) for b in events) == on_kafka
    assert sum(b.counts.get("stream.read", 0) for b in events) == on_kafka
    r = redis.Redis.from_url(local_engines.redis_url)
    in_redis = sum(int(n) for key in r.scan_iter(match="aa:m:*:events") for n in dict(r.hgetall(key)).values())
    assert sum(b.counts["stream.redis"] for b in events) == in_redis  # written to Redis: the non-bot events

    stored = (
        duckdb.connect()
        .execute(
            "select sum(received), sum(written), count(*) filter (where status <> 'balanced') "
            f"from read_parquet('{pipeline.lake}/_quality/ledger/*/*.parquet')"
        )
        .fetchone()
    )
    assert stored == (received, written, 0)
    status = json.loads(redis.Redis.from_url(local_engines.redis_url).get("aa:quality:status") or b"{}")
    assert status["incidents"] == []
    assert {w["status"] for w in status["windows"]} == {"balanced"}
    assert sink(loc) == []

    # the daily report of the same numbers (python -m pipelines.quality report --day ...)
    days = sorted({time.strftime("%Y-%m-%d", time.gmtime(b.minute * 60)) for b in result.balances})
    built = [report.build_report(date.fromisoformat(d), rules(), loc, monitor.ledger_root(loc)) for d in days]
    assert sum(r.totals["received"] for r in built) == received
    assert sum(r.totals["written"] for r in built) == written
    md, page = report.write_report(built[-1], loc.state_dir)
    assert f"{built[-1].totals['received']} events received, {built[-1].totals['written']} written" in md.read_text()
    assert "Every window balances." in page.read_text()
    assert "1 monitor pass(es); 0 distinct finding(s)" in md.read_text()

    # the CronJob's entry point, as make demo runs it (locations from the environment and flags)
    env = {
        **os.environ,
        **local_engines.env(),
        "AA_LAKE_DIR": str(pipeline.lake),
        "AA_WAREHOUSE_PATH": str(pipeline.warehouse),
    }
    cron = subprocess.run(
        [sys.executable, "-m", "pipelines.quality.monitor", "--state-dir", str(pipeline.work / "cron"), "--batch-dir",
         str(pipeline.work / "batch"), "--now", str(time.time() + 150)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert cron.returncode == 0, cron.stderr
    summary = json.loads(cron.stdout.strip().splitlines()[-1])
    assert (summary["received"], summary["written"], summary["findings"]) == (received, written, 0)
    assert set(summary["status"]) == {"balanced"}


def test_deleted_lake_files_raise_one_incident_naming_the_lake(pipeline, local_engines, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(pipeline.lake, lake)
    victim = sorted(lake.glob("event_type=page_view/*/*/*.parquet"))[0]
    lost = duckdb.connect().execute(f"select count(*) from read_parquet('{victim}')").fetchone()
    assert lost is not None
    victim.unlink()
    loc = locations(pipeline, local_engines, "lake-loss", lake_dir=lake)

    result = monitor.run_pass(rules(), loc, now_s=time.time() + 150)

    ledger = [f for f in result.findings if f.monitor == "ledger"]
    assert ledger
    assert {(f.details["hop"], f.details["event_type"]) for f in ledger} == {("lake", "page_view")}
    assert sum(f.details["missing"] for f in ledger) == lost[0]
    assert "at hop 'lake'" in ledger[0].message
    sent = sink(loc)
    assert [(a["kind"], a["key"]) for a in sent] == [("alert", f.key) for f in result.findings]
    # the next pass sees the same incidents: no second alert
    monitor.run_pass(rules(), loc, now_s=time.time() + 160)
    assert len(sink(loc)) == len(sent)


def _snapshot(redis_url: str) -> dict:
    return realtime.read(redis.Redis.from_url(redis_url), realtime.Window("aa", time.time(), 60), 300)


def test_dashboard_shows_the_real_stream_the_dbt_warehouse_and_the_quality_ledger(
    browser, pipeline, local_engines, tmp_path
):
    url = pipeline.start_dashboard()
    try:
        snap = _snapshot(local_engines.redis_url)
        assert snap["totals"]["page_views"] > 0
        browser.call("goto", url=url + "#realtime")
        browser.eval("window.__sentinel = 'same page'")
        browser.wait("document.querySelector('#conn').textContent === 'live'", "the event stream to open")
        browser.wait(
            f"document.querySelector('[data-k=page_views]').textContent === '{snap['totals']['page_views']:,}'",
            "the page views the stream wrote",
        )
        assert_shown_equals_redis(browser.eval(SHOWN), _snapshot(local_engines.redis_url))

        # more traffic, one more stream run: the page follows without a reload
        pipeline.sessions, pipeline.seed = 10, 12
        pipeline.traffic()
        pipeline.stream(finish=True)
        snap2 = _snapshot(local_engines.redis_url)
        assert snap2["totals"]["page_views"] > snap["totals"]["page_views"]
        browser.wait(
            f"document.querySelector('[data-k=page_views]').textContent === '{snap2['totals']['page_views']:,}'",
            "the page views after the second stream run",
            timeout_s=20,
        )
        shown = browser.eval(SHOWN)
        assert_shown_equals_redis(shown, _snapshot(local_engines.redis_url))
        assert shown["sentinel"] == "same page", "updated in place, not reloaded"

        today = time.strftime("%Y-%m-%d", time.gmtime())
        yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86_400))  # traffic is dated 20 min ago
        for metric, dimension in COMBOS:
            query = urllib.parse.urlencode({"metric": metric, "dimension": dimension, "from": yesterday, "to": today})
            status, body = demo._get(f"{url}api/explore?{query}")
            assert status == 200, body
            got = {r["value"]: r["metric"] for r in json.loads(body)["rows"]}
            want = direct(pipeline.warehouse, metric, dimension, yesterday, today)
            assert got.keys() == want.keys(), (metric, dimension)
            for value, number in want.items():
                assert got[value] == (pytest.approx(number, rel=1e-9) if number is not None else None)
            assert got, f"the warehouse has no {metric} by {dimension} for {yesterday}..{today}"

        # the data-quality tab: the live ledger as Redis holds it, and the monitor's open incidents
        lake = tmp_path / "lake"
        shutil.copytree(pipeline.lake, lake)
        next(iter(sorted(lake.glob("event_type=page_view/*/*/*.parquet")))).unlink()
        hourly = rules(ledger={"warehouse_lag_allowance_minutes": 600})  # the second traffic awaits the next build
        broken = monitor.run_pass(hourly, locations(pipeline, local_engines, "dash", lake_dir=lake), time.time() + 150)
        opened = sorted(i.key for i in broken.open_incidents)
        assert opened
        assert all(k.startswith("ledger/lake/page_view/") for k in opened)
        browser.call("goto", url=url + "#quality")
        browser.wait(
            f"document.querySelector('[data-k=q_incidents]').textContent === '{len(opened)}'", "the open incidents"
        )
        live = quality.read(redis.Redis.from_url(local_engines.redis_url), "aa", time.time(), 60)
        shown = browser.eval(QUALITY_SHOWN)
        assert shown["received"] == str(live["totals"]["received"]) != "0"
        assert shown["written"] == str(live["totals"]["written"])
        assert sorted(shown["incidents"]) == opened
        assert "lake" in shown["hops"]
        assert shown["alert"] is False  # the banner shows: some window does not balance
        monitor.run_pass(hourly, locations(pipeline, local_engines, "dash"), time.time() + 160)  # the real lake
        browser.wait("document.querySelector('[data-k=q_incidents]').textContent === '0'", "the incidents resolved")
        assert browser.eval(QUALITY_SHOWN)["alert"] is True
    finally:
        browser.call("goto", url="about:blank")


QUALITY_SHOWN = """(() => ({
  received: document.querySelector('[data-k=q_received]').dataset.v,
  written: document.querySelector('[data-k=q_written]').dataset.v,
  incidents: [...document.querySelectorAll('table[data-t=incidents] tbody td[data-c=key]')].map((td) => td.textContent),
  hops: [...document.querySelectorAll('table[data-t=ledger] tbody td[data-c=hop]')].map((td) => td.textContent),
  alert: document.querySelector('#q-alert').hidden,
}))()"""


# runs last: it leaves records on Kafka that the stream never reads
def test_offsets_the_stream_never_read_raise_an_incident_naming_the_stream_and_a_stale_layer_alerts(
    pipeline, local_engines
):
    # records on the topic that the stream's consumer skipped (it never reads them), stamped 12 minutes later
    at_ms = int((time.time() + 720) * 1000)
    producer = Producer({"bootstrap.servers": local_engines.kafka_bootstrap})
    for i in range(3):
        producer.produce("events.affiliate_click", b"\x00skipped", key=f"k{i}".encode(), timestamp=at_ms)
    assert producer.flush(10) == 0
    loc = locations(pipeline, local_engines, "skipped")

    cfg = rules(
        freshness={"slo_minutes": {"kafka": 30, "redis": 5, "lake": 5, "warehouse": 5, "marts": 5}},
        ledger={"warehouse_lag_allowance_minutes": 600},  # the second traffic is not in the hourly build yet
    )
    result = monitor.run_pass(cfg, loc, now_s=at_ms / 1000 + 150)

    ledger = [f for f in result.findings if f.monitor == "ledger"]
    assert [(f.details["hop"], f.details["event_type"], f.details["missing"]) for f in ledger] == [
        ("stream", "affiliate_click", 3)
    ]
    stale = sorted(f.details["layer"] for f in result.findings if f.monitor == "freshness")
    assert stale == ["lake", "marts", "redis", "warehouse"]
    redis_alert = next(f for f in result.findings if f.key == "freshness/redis")
    assert "behind Kafka's newest record (SLO 5 min)" in redis_alert.message
