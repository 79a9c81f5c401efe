"""The streaming job on real Kafka, Redis, moto and local Spark, with a workload of known outcome."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import boto3
import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from pipelines.contracts.codec import Codec
from pipelines.contracts.registry import GlueSchemaRegistry
from pipelines.streaming import job

from .conftest import build_workload

pytestmark = pytest.mark.engines


def _lake(cfg) -> list[dict]:
    return cfg.lake.dataset().to_table().to_pylist()


def _redis_sum(r: redis.Redis, pattern: str) -> Counter:
    total: Counter = Counter()
    for key in r.scan_iter(match=pattern, count=1000):
        for f, n in r.hgetall(key).items():
            total[f.decode() if isinstance(f, bytes) else str(f)] += int(n)
    return total


def _dead_letters(bootstrap: str, topic: str, expected: int, glue, registry_name: str) -> Counter:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    codec = Codec(GlueSchemaRegistry(glue, registry_name), {})
    reasons: Counter = Counter()
    deadline = time.monotonic() + 30
    while sum(reasons.values()) < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            reasons[codec.decode(msg.value() or b"").record["reason"]] += 1
    high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    consumer.close()
    assert high is not None
    assert high[1] == expected, f"{high[1]} records on {topic}, expected {expected}: a replay duplicated some"
    return reasons


def _run(spark, cfg, hook=None) -> None:
    query = job.start(spark, cfg, hook)
    try:
        query.awaitTermination(timeout=240)
    finally:
        if query.isActive:
            query.stop()


def _assert_outcome(w, cfg, r, glue, bootstrap) -> None:
    ledger = {k.decode(): int(v) for k, v in r.hgetall(f"{w.namespace}:ledger:total").items()}
    expected_rows = sum(w.expected_lake.values())
    assert ledger == {
        "received": w.produced,
        "decoded": w.produced - 3,
        "valid": expected_rows + w.duplicates,
        "late": w.late,
        "duplicate": w.duplicates,
        "written": expected_rows,
        "bot": w.bot,
        **{f"invalid:{k}": v for k, v in w.expected_invalid.items()},
    }
    assert ledger["received"] == (
        ledger["written"] + ledger["duplicate"] + ledger["late"] + sum(w.expected_invalid.values())
    )
    rows = _lake(cfg)
    assert Counter(row["event_type"] for row in rows) == w.expected_lake
    assert len({row["event_id"] for row in rows}) == len(rows)
    assert sum(row["is_bot"] for row in rows) == w.bot
    events = _redis_sum(r, f"{w.namespace}:m:*:events")
    assert events["page_view"] == w.page_views_human
    assert _redis_sum(r, f"{w.namespace}:m:*:clk:merchant") == w.clicks_by_merchant
    assert sum(_redis_sum(r, f"{w.namespace}:m:*:bot").values()) == w.bot
    active_keys = list(r.scan_iter(match=f"{w.namespace}:m:*:active"))
    assert r.pfcount(*active_keys) == len(w.human_sessions)
    assert all(0 < r.ttl(k) <= cfg.redis_ttl_seconds for k in active_keys)
    dlq = _dead_letters(
        bootstrap, w.dead_letter_topic, w.late + sum(w.expected_invalid.values()), glue, w.registry_name
    )
    assert dlq == {**w.expected_invalid, "late_event": w.late}


def test_workload_yields_exact_redis_counters_lake_rows_and_dead_letters(
    spark, local_engines, glue, namespace, tmp_path
):
    w = build_workload(local_engines, glue, namespace)
    cfg = w.config(tmp_path, local_engines.redis_url, local_engines.moto_url, local_engines.kafka_bootstrap)
    _run(spark, cfg)
    r = redis.Redis.from_url(local_engines.redis_url)
    _assert_outcome(w, cfg, r, glue, local_engines.kafka_bootstrap)
    rows = {row["event_id"]: row for row in _lake(cfg)}
    for event_id in w.old_schema_ids:  # written by an older producer, read with the current schema
        assert '"wix_page_id":null' in rows[event_id]["payload"]
    # a second run over the same checkpoint finds nothing new and changes nothing
    _run(spark, cfg)
    _assert_outcome(w, cfg, r, glue, local_engines.kafka_bootstrap)


@pytest.mark.parametrize(
    ("fast_path", "spark_sinks"),
    [(False, False), (True, False), (True, True)],
    ids=["reference", "fast", "spark_sinks"],
)
def test_the_lake_can_be_an_s3_prefix(
    spark, local_engines, glue, namespace, tmp_path, monkeypatch, fast_path, spark_sinks
):
    """The cloud's lake: the same workload lands in S3 (moto) exactly as in a folder, commit markers
    and ledger files included, and a rerun over the checkpoint writes nothing more."""
    monkeypatch.setenv("AA_AWS_ENDPOINT", local_engines.moto_url)
    bucket = f"lake-{namespace}"
    boto3.client(
        "s3", endpoint_url=local_engines.moto_url, region_name="us-east-1", aws_access_key_id="local",
        aws_secret_access_key="local",
    ).create_bucket(Bucket=bucket)  # fmt: skip
    w = build_workload(local_engines, glue, namespace)
    cfg = w.config(
        tmp_path, local_engines.redis_url, local_engines.moto_url, local_engines.kafka_bootstrap,
        lake_dir=f"s3://{bucket}/events", fast_path=fast_path, spark_sinks=spark_sinks,
    )  # fmt: skip
    assert cfg.lake.is_s3
    assert not (tmp_path / "lake").exists()
    r = redis.Redis.from_url(local_engines.redis_url)
    for _ in range(2):
        _run(spark, cfg)
        _assert_outcome(w, cfg, r, glue, local_engines.kafka_bootstrap)
    files = cfg.lake.files()
    batches = {f.rsplit("/", 1)[-1] for f in files if f.startswith("_commits/")}
    assert batches
    assert batches == {f.rsplit("/", 1)[-1] for f in files if f.startswith("_ledger/")}


class InjectedCrashError(RuntimeError):
    pass


@pytest.mark.parametrize(
    ("fast_path", "spark_sinks"),
    [(False, False), (True, False), (True, True)],
    ids=["reference", "fast", "spark_sinks"],
)
def test_crashes_mid_stream_then_restart_from_checkpoint_give_the_same_numbers(
    spark, local_engines, glue, namespace, tmp_path, fast_path, spark_sinks
):
    w = build_workload(local_engines, glue, namespace, seed=23)
    cfg = w.config(
        tmp_path,
        local_engines.redis_url,
        local_engines.moto_url,
        local_engines.kafka_bootstrap,
        max_offsets_per_trigger=60,
        fast_path=fast_path,
        spark_sinks=spark_sinks,
    )
    crashes = [("lake_written", 1), ("dead_letters_sent", 2), ("redis_applied", 3)]
    seen: list[tuple[str, int]] = []

    def crash_at(step: str, batch_id: int) -> None:
        seen.append((step, batch_id))
        if crashes and (step, batch_id) == crashes[0]:
            crashes.pop(0)
            raise InjectedCrashError(f"injected crash after {step} in batch {batch_id}")

    for _ in range(3):  # each run dies at the next injected crash
        with pytest.raises(Exception, match="injected crash"):
            _run(spark, cfg, crash_at)
    assert not crashes
    _run(spark, cfg, crash_at)  # the last restart runs to the end of the backlog
    assert max(b for _, b in seen) >= 3, "the workload should span several micro-batches"
    r = redis.Redis.from_url(local_engines.redis_url)
    _assert_outcome(w, cfg, r, glue, local_engines.kafka_bootstrap)


def _wait_for(what: str, check, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        ok, last = check()
        if ok:
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached within {timeout_s}s; last seen: {last}")


def test_rules_file_change_changes_segments_at_the_next_batch_without_restart(
    spark, local_engines, glue, namespace, tmp_path
):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - name: on_mobile\n    when: {field: enrich.device_type, op: eq, value: mobile}\n"
        "  - name: researcher\n    scope: session\n    when: {field: session.events, op: gte, value: 2}\n"
    )
    w = build_workload(local_engines, glue, namespace, sessions=6, seed=5)
    cfg = w.config(
        tmp_path, local_engines.redis_url, local_engines.moto_url, local_engines.kafka_bootstrap, rules_file=rules
    )
    cfg = cfg.model_copy(update={"available_now": False, "trigger_seconds": 1.0})
    r = redis.Redis.from_url(local_engines.redis_url)
    ledger_key = f"{namespace}:ledger:total"

    def received(n: int):
        def check():
            got = int(r.hget(ledger_key, "received") or 0)
            return got >= n, got

        return check

    query = job.start(spark, cfg)
    try:
        _wait_for("first workload processed", received(w.produced))
        first = {row["event_id"] for row in _lake(cfg)}
        rules.write_text(
            "version: 2\nrules:\n  - name: page_view_v2\n    when: {field: event_type, op: eq, value: page_view}\n"
        )
        w2 = build_workload(local_engines, glue, namespace, sessions=6, seed=6)
        _wait_for("second workload processed", received(w.produced + w2.produced))
    finally:
        query.stop()
    rows = _lake(cfg)
    before = [row for row in rows if row["event_id"] in first]
    after = [row for row in rows if row["event_id"] not in first]
    segs_before = {s for row in before for s in row["segments"]}
    segs_after = {s for row in after for s in row["segments"]}
    assert segs_before == {"on_mobile", "researcher"}
    assert segs_after == {"page_view_v2"}
    assert all(("page_view_v2" in row["segments"]) == (row["event_type"] == "page_view") for row in after)
    assert all(
        ("on_mobile" in row["segments"]) == (row["device_type"] == "mobile") for row in before if not row["is_bot"]
    )
    assert _redis_sum(r, f"{namespace}:m:*:seg")["page_view_v2"] == sum(
        1 for row in after if "page_view_v2" in row["segments"] and not row["is_bot"]
    )


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _redis_state(r: redis.Redis, prefix: str) -> dict[str, object]:
    """Every metric key of a stream (minute buckets, session state, ledger windows and totals) with
    its content; the per-run markers (batch, dead-letter, per-minute ledger) are left out."""
    out: dict[str, object] = {}
    for key in r.scan_iter(match=f"{prefix}:*", count=1000):
        name = key.decode()[len(prefix) + 1 :]
        if name.startswith(("batch:", "dlq:")) or (name.startswith("ledger:") and name != "ledger:total"):
            continue
        kind = _text(r.type(key))
        if kind == "hash":
            out[name] = {_text(f): int(n) for f, n in r.hgetall(key).items()}
        elif kind == "string":  # HyperLogLog
            out[name] = r.pfcount(key)
        else:
            out[name] = kind
    return out


def _dead_letter_records(bootstrap: str, topic: str, glue, registry_name: str) -> Counter:
    from pipelines.kafka_io import read_to_end

    codec = Codec(GlueSchemaRegistry(glue, registry_name), {})
    out: Counter = Counter()
    for msg in read_to_end(bootstrap, [topic]):
        rec = codec.decode(msg.value() or b"").record
        out[(rec["reason"], rec["detail"], rec["event_type"], rec["event_id"], rec["raw"], rec["raw_truncated"],
             tuple(sorted(rec["request_context"].items())))] += 1  # fmt: skip
    return out


def test_fast_path_gives_exactly_what_the_per_record_reference_gives(spark, local_engines, glue, namespace, tmp_path):
    """The fast path (JVM decode, vectorised rules, segments per distinct facts, metrics and lake in
    Spark) against the per-record Python reference on one workload with duplicates, invalid, late,
    old-schema and bot events (UA and rate signals), the default rules (event paths, profiles,
    session scope) and several micro-batches: the same lake rows, dead letters, counts and Redis keys."""
    import json

    from pipelines.contracts.samples import generate
    from pipelines.contracts.topics import TopicSpec, admin_client, sync_topics
    from pipelines.segmentation.engine import default_rules_file

    w = build_workload(local_engines, glue, namespace, sessions=24, seed=31)
    visitors = sorted(
        {s.record["context"]["visitor_id"] for s in generate(24, seed=31, start_ms=0) if "context" in s.record}
    )
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_text(
        "".join(json.dumps({"visitor_id": v, "lifetime_orders": i % 3}) + "\n" for i, v in enumerate(visitors[:12]))
    )
    results = {}
    for name, fast, spark_sinks in (("reference", False, True), ("fast", True, True), ("fast_decode", True, False)):
        dlq = f"{namespace}.dlq-{name}"
        sync_topics(admin_client(local_engines.kafka_bootstrap), [TopicSpec(dlq, "dead_letter", 1, "event_id", {})],
                    replication_factor=1)  # fmt: skip
        cfg = w.config(
            tmp_path / name, local_engines.redis_url, local_engines.moto_url, local_engines.kafka_bootstrap,
            fast_path=fast, spark_sinks=spark_sinks, dead_letter_topic=dlq, redis_prefix=f"{namespace}-{name}", max_offsets_per_trigger=70,
            rules_file=default_rules_file(), profiles_file=profiles, bot_events_per_minute=4,
        )  # fmt: skip
        _run(spark, cfg)
        rows = sorted(_lake(cfg), key=lambda row: row["event_id"])
        for row in rows:
            row["payload"] = json.loads(row["payload"])
        r = redis.Redis.from_url(local_engines.redis_url)
        results[name] = (
            rows,
            _dead_letter_records(local_engines.kafka_bootstrap, dlq, glue, w.registry_name),
            _redis_state(r, cfg.redis_prefix),
        )
    ref_rows, ref_dlq, ref_redis = results["reference"]
    fast_rows, fast_dlq, fast_redis = results["fast"]
    assert len(ref_rows) == sum(w.expected_lake.values())
    assert [row["event_id"] for row in fast_rows] == [row["event_id"] for row in ref_rows]
    for got, want in zip(fast_rows, ref_rows, strict=True):
        assert got == want, f"lake row {want['event_id']} differs"
    # the workload exercises what it should
    assert {s for row in ref_rows for s in row["segments"]} >= {"deal_seeker", "returning_visitor", "high_intent"}
    assert any("rate" in row["bot_reasons"] for row in ref_rows)
    assert any("ua_crawler" in row["bot_reasons"] for row in ref_rows)
    assert sum(ref_dlq.values()) == w.late + sum(w.expected_invalid.values())
    assert fast_dlq == ref_dlq
    assert fast_redis == ref_redis
    # the fast decode with the reference's Python sinks (spark_sinks: false) too
    assert results["fast_decode"] == results["reference"]
    assert ref_redis["ledger:total"]["duplicate"] == w.duplicates
