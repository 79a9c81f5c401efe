"""The whole pipeline, as `make demo --finish` runs it, on the real engines.

tracer wire format over HTTP → collector → Kafka → Spark stream → Redis + lake → dbt on DuckDB,
with bots, an invalid event per 15 sessions, signed postbacks and a redirect click that repeats a
click already sent (a duplicate the stream must drop).
"""

import time
from collections import Counter
from typing import cast

import duckdb
import pytest
import redis

from pipelines import demo
from pipelines.contracts.samples import generate
from pipelines.contracts.topics import load_topics
from pipelines.kafka_io import read_to_end, record_counts
from tests.conftest import fixed_port, reset_pipeline_state

pytestmark = pytest.mark.engines


@pytest.fixture
def finished_demo(local_engines, tmp_path, monkeypatch):
    monkeypatch.setenv("AA_DEMO_COLLECTOR_PORT", str(fixed_port(28080)))
    monkeypatch.setenv("AA_DEMO_DASHBOARD_PORT", str(fixed_port(28090)))
    reset_pipeline_state(local_engines)
    run = demo.Demo(local_engines, tmp_path, sessions=30, seed=5)
    try:
        run.contracts()
        run.start_collector()
        stats = run.traffic()
        run.stream(finish=True)
        run.warehouse_build()
        url = run.start_dashboard()
        yield run, stats, url
    finally:
        run.stop_all()


def test_every_event_is_accounted_for_from_http_to_the_marts(finished_demo, local_engines):
    run, stats, url = finished_demo
    samples = generate(30, seed=5, returning_rate=demo.RETURNING_RATE, session_gap_ms=demo.SESSION_GAP_MS)
    browser = Counter(s.event_type for s in samples if s.event_type != "conversion")
    invalid = sum(
        1
        for i in range(len({s.record["context"]["session_id"] for s in samples if "context" in s.record}))
        if i % 15 == 7
    )
    assert stats == {
        "accepted": sum(browser.values()),
        "rejected": invalid,
        "postbacks": sum(1 for s in samples if s.event_type == "conversion"),
        "redirect_status": 302,
    }

    counts = record_counts(local_engines.kafka_bootstrap, [t.name for t in load_topics()])
    assert counts == {
        **{f"events.{t}": n for t, n in browser.items()},
        "events.affiliate_click": browser["affiliate_click"] + 1,  # the redirect repeats a sent click
        "events.conversion": stats["postbacks"],
        "events.dead_letter": invalid,
    }

    lake = dict(
        duckdb.connect()
        .execute(
            f"select event_type, count(*) from read_parquet('{run.lake}/event_type=*/*/*/*.parquet', "
            "hive_partitioning=true) group by 1"
        )
        .fetchall()
    )
    assert lake == {**browser, "conversion": stats["postbacks"]}  # the repeated click deduplicated

    r = redis.Redis.from_url(local_engines.redis_url, decode_responses=True)
    ledger = {str(k): int(v) for k, v in cast("dict[str, str]", r.hgetall("aa:ledger:total")).items()}
    assert ledger["received"] == sum(counts.values()) - invalid
    assert ledger["duplicate"] == 1
    assert ledger["bot"] == sum(run.bots.values())

    wh = duckdb.connect(str(run.warehouse), read_only=True)
    clicks = wh.execute("select count(*) from staging.stg_events__affiliate_clicks").fetchone()
    assert clicks == (browser["affiliate_click"],)
    credits = wh.execute(
        "select count(distinct conversion_id), sum(first_touch_credit), sum(last_touch_credit), sum(linear_credit), "
        "sum(position_based_credit), sum(time_decay_credit) from marketing.attribution"
    ).fetchone()
    assert credits is not None
    conversions = int(credits[0])
    assert conversions >= 1
    assert [round(float(c), 6) for c in credits[1:]] == [float(conversions)] * 5  # credits sum to 1 each

    assert demo._get(f"{url}healthz")[0] == 200


def test_a_visitor_in_chromium_reaches_kafka_exactly_once_per_event(local_engines, tmp_path, monkeypatch):
    """Real browser → tracer → real collector → Kafka: every event the page sent arrives exactly once."""
    import json

    from pipelines.contracts.codec import Codec
    from pipelines.contracts.registry import GlueSchemaRegistry, current_versions, glue_client

    monkeypatch.setenv("AA_DEMO_COLLECTOR_PORT", str(fixed_port(28180)))
    monkeypatch.setenv("AA_DEMO_SITE_PORT", str(fixed_port(28181)))
    reset_pipeline_state(local_engines)
    run = demo.Demo(local_engines, tmp_path, sessions=1, seed=1)
    try:
        run.contracts()
        run.start_collector()
        site = run.start_site()
        sent_file = tmp_path / "sent.jsonl"
        run.drive_browser(site, sent_file)
    finally:
        run.stop_all()  # SIGTERM drains the collector: every accepted event is in Kafka now
    sent = {e["event_id"]: e for e in map(json.loads, sent_file.read_text().splitlines())}

    registry = GlueSchemaRegistry(glue_client(local_engines.moto_url))
    codec = Codec(registry, current_versions(registry.register_all()))
    received = _kafka_records(local_engines.kafka_bootstrap, codec)

    ids = Counter(e["event_id"] for e in received)
    assert [i for i, n in ids.items() if n > 1] == []  # nothing twice
    assert set(sent) <= set(ids)  # everything the page reported sending arrived
    by_type = Counter(e["event_type"] for e in received)
    assert by_type["dead_letter"] == 0
    assert by_type["page_view"] == 3  # landing page + two SPA routes: one page view per route
    actions = sorted(e["action"] for e in received if e["event_type"] == "chart_interaction")
    assert set(actions) == {"filter", "sort", "expand", "collapse", "compare", "paginate"}
    clicks = [e for e in received if e["event_type"] == "affiliate_click"]
    assert len(clicks) == 1  # the click that left the page at once, exactly once
    assert clicks[0]["product_id"] == "zen-13"
    impressions = [e for e in received if e["event_type"] == "product_impression"]
    assert impressions
    assert all(e["position"] >= 1 for e in impressions)
    assert all(e["context"]["ip_hash"] and e["context"]["user_agent"] for e in received)


def _kafka_records(bootstrap: str, codec) -> list[dict]:
    """Every record now on the event and dead-letter topics (the collector has stopped)."""
    topics = [t.name for t in load_topics() if t.event_type != "conversion"]
    return [
        {"event_type": (d := codec.decode(msg.value() or b"")).event_type, **d.record}
        for msg in read_to_end(bootstrap, topics, timeout_s=60)
    ]


def test_a_collector_answering_503_then_recovering_loses_nothing_from_the_browser(local_engines, tmp_path, monkeypatch):
    """Kafka down → the collector spills until its journal cap, then answers 503 + Retry-After; the
    tracer keeps its events; Kafka back → the journal replays and the tracer's retries land once."""
    import dataclasses
    import json
    import os
    import subprocess

    from pipelines.contracts.codec import Codec
    from pipelines.contracts.registry import GlueSchemaRegistry, current_versions, glue_client
    from pipelines.local import engines

    monkeypatch.setenv("AA_DEMO_COLLECTOR_PORT", str(fixed_port(28280)))
    monkeypatch.setenv("AA_DEMO_SITE_PORT", str(fixed_port(28281)))
    broker = dataclasses.replace(
        local_engines,
        state_dir=tmp_path / "broker",
        kafka_port=int(os.environ.get("AA_TEST_RETRY_KAFKA_PORT", fixed_port(29292))),
        kafka_controller_port=int(os.environ.get("AA_TEST_RETRY_KAFKA_CONTROLLER_PORT", fixed_port(29293))),
    )
    engines.start_kafka(broker)
    run = demo.Demo(broker, tmp_path, sessions=1, seed=1)
    node = None
    try:
        run.contracts()
        run.start_collector(
            journal_max_bytes=16384, journal_segment_bytes=4096, retry_after_s=1, delivery_timeout_ms=1000
        )
        site = run.start_site()
        engines._stop(broker.state_dir / "kafka.pid", "kafka")
        filler = [demo.to_wire(s) for s in generate(40, seed=9) if s.event_type == "page_view"]
        status, filled = 200, []
        while status == 200:  # spill until the journal is full
            batch = filler[len(filled) : len(filled) + 4]
            assert batch, "the journal never filled"
            req = demo.urllib.request.Request(
                f"http://127.0.0.1:{run.collector_port}/v1/events",
                data=json.dumps({"events": batch}).encode(),
                headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": demo.SITE_ORIGIN},
                method="POST",
            )
            try:
                with demo.urllib.request.urlopen(req, timeout=30) as resp:
                    status = resp.status
                    filled += batch
            except demo.urllib.error.HTTPError as exc:
                status = exc.code
        assert status == 503
        ready, sent_file = tmp_path / "ready.flag", tmp_path / "sent.jsonl"
        node = subprocess.Popen(
            [
                "node",
                "tracer/scripts/drive-retry.mjs",
                "--site",
                site.rstrip("/"),
                "--out",
                str(sent_file),
                "--ready",
                str(ready),
            ],
            cwd=demo.REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert node.poll() is None, node.communicate()
            assert time.monotonic() < deadline, "the browser never met a 503"
            time.sleep(0.2)
        engines.start_kafka(broker)  # recovery: the journal replays, the collector accepts again
        out, err = node.communicate(timeout=120)
        assert node.returncode == 0, err
        summary = json.loads(out.strip().splitlines()[-1])
        assert 503 in summary["statuses"]
        assert summary["statuses"][-1] == 200
    finally:
        if node is not None and node.poll() is None:
            node.kill()
        run.stop_all()
    sent = {e["event_id"] for e in map(json.loads, sent_file.read_text().splitlines())}
    registry = GlueSchemaRegistry(glue_client(local_engines.moto_url))
    codec = Codec(registry, current_versions(registry.register_all()))
    try:
        received = _kafka_records(broker.kafka_bootstrap, codec)
    finally:
        engines._stop(broker.state_dir / "kafka.pid", "kafka")
    ids = Counter(e["event_id"] for e in received)
    assert [i for i, n in ids.items() if n > 1] == []
    assert sent | {e["event_id"] for e in filled} <= set(ids)  # the page's events and the spilled ones
