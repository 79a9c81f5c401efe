"""Losslessness: a broker stopped mid-traffic and restarted, and SIGTERM under load.

Both count exact event ids in Kafka afterwards, and both check that the raw client IP is nowhere:
not in any topic, the journal, or the logs.
"""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import httpx
import orjson
import pytest

from pipelines.contracts.samples import generate
from pipelines.contracts.topics import load_topics
from pipelines.local import engines
from tests.conftest import fixed_port
from tests.pipelines.collector.conftest import (
    REPO_ROOT,
    SALT,
    Running,
    consume,
    make_config,
    run_collector,
    sync_namespaced_topics,
    wire,
)

pytestmark = pytest.mark.engines
RAW_IP = "198.51.100.77"
IP_MARKERS = (RAW_IP.encode(), b"198.51.100.0")


def _batches(n_batches, size=5, seed=3):
    events = [wire(s.record, s.event_type) for s in generate(n_batches * 2, seed=seed) if s.event_type != "conversion"]
    for ev in events:
        ev["event_id"] = str(uuid.uuid4())  # unique per run
    return [events[i : i + size] for i in range(0, n_batches * size, size)]


def _event_topics(ns):
    return [f"{ns}.{s.name}" for s in load_topics() if s.event_type not in ("conversion", "dead_letter")]


def _assert_no_ip(blob: bytes, where: str):
    for marker in IP_MARKERS:
        assert marker not in blob, f"{marker!r} found in {where}"


def _poll(check, what, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout_s}s")


def test_broker_outage_spills_then_replays_every_acknowledged_event_exactly_once(collector_codec, namespace, tmp_path):
    kafka = engines.EngineConfig(
        state_dir=tmp_path / "broker",
        kafka_port=int(os.environ.get("AA_TEST_OUTAGE_KAFKA_PORT", fixed_port(29192))),
        kafka_controller_port=int(os.environ.get("AA_TEST_OUTAGE_KAFKA_CONTROLLER_PORT", fixed_port(29193))),
    )
    engines.start_kafka(kafka)
    try:
        sync_namespaced_topics(kafka.kafka_bootstrap, namespace)
        cfg = make_config(tmp_path, kafka.kafka_bootstrap, namespace, delivery_timeout_ms=1500)
        batches = _batches(300)
        acked: list[str] = []
        journal_seen: list[bytes] = []

        async def body(c: Running):
            state = {"stop": False}

            async def traffic():
                for batch in batches:
                    if state["stop"]:
                        break
                    r = await c.post_events(batch, **{"x-forwarded-for": RAW_IP})
                    if r.status_code == 200:
                        assert r.json() == {"accepted": len(batch), "rejected": 0}
                        acked.extend(ev["event_id"] for ev in batch)
                    await asyncio.sleep(0.01)

            task = asyncio.create_task(traffic())
            await _until(lambda: len(acked) >= 100, "traffic before the outage", 20)
            await asyncio.to_thread(engines._stop, kafka.state_dir / "kafka.pid", "kafka")
            await _until(lambda: c.app.delivery.journal.pending_bytes > 0, "spill", 20)
            await _until(lambda: c.app.metrics.spilled._value.get() >= 100, "100 spilled records", 20)
            journal_seen.extend(p.read_bytes() for p in cfg.journal_dir.iterdir() if p.is_file())
            assert (await c.client.get("/readyz")).status_code == 503
            await asyncio.to_thread(engines.start_kafka, kafka)
            await _until(lambda: c.app.delivery.journal.is_empty() and c.app.delivery.broker_up, "replay", 60)
            state["stop"] = True
            await task
            return c.app.metrics.spilled._value.get()

        spilled = run_collector(cfg, collector_codec, body)
        assert spilled >= 100
        _assert_no_ip(b"".join(journal_seen), "the journal")
        # everything up to the high watermarks (the replay is done): a read that stopped at len(acked)
        # records could miss acknowledged ones behind an unexpected extra record
        records = consume(kafka.kafka_bootstrap, _event_topics(namespace), collector_codec)
        counts = Counter(r["event_id"] for _, _, r, _ in records)
        missing = set(acked) - set(counts)
        duplicates = [i for i, n in counts.items() if n > 1]
        assert not missing, f"{len(missing)} acknowledged events missing from Kafka ({len(duplicates)} duplicated)"
        assert duplicates == [], f"{len(duplicates)} duplicates in Kafka"
        assert len(records) == len(acked)
        _assert_no_ip(b"".join(raw for *_, raw in records), "Kafka")
    finally:
        engines._stop(kafka.state_dir / "kafka.pid", "kafka")


async def _until(check, what, timeout_s):
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s}s")
        await asyncio.sleep(0.05)


def test_sigterm_under_load_loses_no_acknowledged_event_and_no_raw_ip_is_written(
    local_engines, topics, collector_codec, glue, tmp_path
):
    port = int(os.environ.get("AA_TEST_COLLECTOR_PORT", fixed_port(28080)))
    log_file = tmp_path / "collector.log"
    env = {
        **os.environ,
        "AA_COLLECTOR_PORT": str(port),
        "AA_COLLECTOR_KAFKA_BOOTSTRAP": local_engines.kafka_bootstrap,
        "AA_COLLECTOR_TOPIC_PREFIX": f"{topics}.",
        "AA_COLLECTOR_GLUE_ENDPOINT": local_engines.moto_url,
        "AA_COLLECTOR_REGISTRY_NAME": f"reg-{topics}",
        "AA_COLLECTOR_IP_SALT": SALT,
        "AA_COLLECTOR_CLIENT_IP_HEADER": "x-forwarded-for",
        "AA_COLLECTOR_JOURNAL_DIR": str(tmp_path / "journal"),
        "AA_COLLECTOR_LOG_LEVEL": "debug",
    }
    with log_file.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.collector"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _poll(lambda: _get(f"{url}/readyz") == 200, "collector ready", 60)
        batches = _batches(400, seed=5)
        acked: list[str] = []
        lock = threading.Lock()
        sent = {"n": 0}

        def worker(mine):
            with httpx.Client(base_url=url, timeout=10) as client:
                for batch in mine:
                    try:
                        r = client.post(
                            "/v1/events",
                            content=orjson.dumps({"events": batch}),
                            headers={"content-type": "text/plain;charset=UTF-8", "x-forwarded-for": RAW_IP},
                        )
                    except httpx.HTTPError:
                        return  # the server is gone: this batch was never acknowledged
                    with lock:
                        sent["n"] += 1
                        if r.status_code == 200:
                            acked.extend(ev["event_id"] for ev in batch)

        threads = [threading.Thread(target=worker, args=(batches[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        _poll(lambda: sent["n"] >= 40, "40 requests answered", 30)
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(30)
        # uvicorn re-raises the signal after its graceful shutdown: exit by SIGTERM, after the drain
        assert proc.wait(30) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert 0 < len(acked) < 2000, "SIGTERM should land mid-traffic"
    records = consume(local_engines.kafka_bootstrap, _event_topics(topics), collector_codec, expected=len(acked))
    got = {r["event_id"] for _, _, r, _ in records}
    assert set(acked) <= got, f"{len(set(acked) - got)} acknowledged events missing after SIGTERM"
    logs = log_file.read_bytes()
    assert b'"event":"collector_stopped"' in logs
    _assert_no_ip(logs, "the collector's logs")
    _assert_no_ip(b"".join(raw for *_, raw in records), "Kafka")
    for p in (tmp_path / "journal").iterdir():
        _assert_no_ip(p.read_bytes(), str(p))


def _get(url):
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None
