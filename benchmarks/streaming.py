"""Streaming job throughput and freshness on local[2], side by side with a baseline in one run.

    uv run python -m benchmarks.streaming [--events 600000] [--batch 25000 --batch 300000] [--freshness-seconds 30]

1. Throughput: a backlog of realistic events (all five types, 2 % duplicates) on real Kafka is
   processed with ``availableNow`` in micro-batches of each ``--batch`` size by each variant in
   turn (``--variants``): ``baseline`` (Kafka source → count, the floor Spark itself costs),
   ``decode_fast`` (the fast path's decode, validate, enrich, dedup → count), ``full_reference``
   (the per-record path, ``fast_path: false``) and ``full_fast`` (the default: every sink, exactly
   once). Events/s per micro-batch come from Spark's own progress reports (``triggerExecution``),
   median of the batches after the first (JIT, Python workers); CPU seconds of the Spark JVM and
   its Python workers from ``/proc``, per event.
2. Freshness: the job runs with the 10 s trigger while a producer sends at the demo rate (20
   events/s) and at 10x, on each path; freshness of an event = when its batch's Redis
   transaction committed (the ledger's ``processed_at``) minus its ``collector_received_at``;
   p50/p95 over all events.

Load averages are recorded with each figure (the machine is shared). Uses the engines of ``make
up`` or the ``AA_*_PORT`` ones (started if needed, stopped again if this run started them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from pipelines.contracts.codec import Codec
from pipelines.contracts.registry import GlueSchemaRegistry, current_versions, glue_client
from pipelines.contracts.samples import generate, message_key
from pipelines.contracts.topics import TopicSpec, admin_client, sync_topics
from pipelines.local import engines
from pipelines.segmentation.engine import default_rules_file
from pipelines.streaming import job
from pipelines.streaming.config import StreamConfig, load_config

TYPES = ["page_view", "product_impression", "chart_interaction", "affiliate_click", "conversion"]


def _stamp(record: dict[str, Any], now_ms: int) -> dict[str, Any]:
    ctx = record.get("context")
    if ctx is not None:
        ctx.update(device_created_at=now_ms - 400, device_sent_at=now_ms - 50, collector_received_at=now_ms)
    else:
        record.update(occurred_at=now_ms - 3_600_000, collector_received_at=now_ms)
    return record


class Bench:
    def __init__(self, cfg: engines.EngineConfig, ns: str) -> None:
        self.cfg = cfg
        self.ns = ns
        self.topics = {t: f"{ns}.events.{t}" for t in TYPES}
        self.dlq = f"{ns}.events.dead_letter"
        specs = [TopicSpec(n, t, 2, "session_id", {}) for t, n in self.topics.items()]
        specs.append(TopicSpec(self.dlq, "dead_letter", 1, "event_id", {}))
        sync_topics(admin_client(cfg.kafka_bootstrap), specs, replication_factor=1)
        self.glue = glue_client(cfg.moto_url)
        self.registry = GlueSchemaRegistry(self.glue, f"bench-{ns}")
        self.codec = Codec(self.registry, current_versions(self.registry.register_all()))
        self.producer = Producer(
            {"bootstrap.servers": cfg.kafka_bootstrap, "linger.ms": 50, "acks": "all", "enable.idempotence": True}
        )

    def produce(self, n_events: int, seed: int, dup_every: int = 50) -> int:
        sent, i = 0, 0
        while sent < n_events:
            for s in generate(500, seed=seed + i, start_ms=int(time.time() * 1000)):
                if sent >= n_events:
                    break
                value = self.codec.encode(s.event_type, _stamp(s.record, int(time.time() * 1000)))
                key = message_key(s.event_type, s.record).encode()
                self._send(self.topics[s.event_type], value, key)
                sent += 1
                if sent % dup_every == 0:
                    self._send(self.topics[s.event_type], value, key)
                    sent += 1
            i += 1
        self.producer.flush(60)
        return sent

    def _send(self, topic: str, value: bytes, key: bytes) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key=key)
                self.producer.poll(0)
                return
            except BufferError:  # the local queue is full: let deliveries drain
                self.producer.poll(0.2)

    def stream_config(self, tmp: Path, **extra: Any) -> StreamConfig:
        return load_config(
            lake_dir=tmp / "lake",
            checkpoint_dir=tmp / "ckpt",
            kafka_bootstrap=self.cfg.kafka_bootstrap,
            topics=sorted(self.topics.values()),
            dead_letter_topic=self.dlq,
            glue_endpoint=self.cfg.moto_url,
            registry_name=self.registry.registry_name,
            redis_url=self.cfg.redis_url,
            redis_prefix=self.ns,
            rules_file=default_rules_file(),
            **extra,
        )

    def cleanup(self) -> None:
        import redis

        r = redis.Redis.from_url(self.cfg.redis_url)
        for key in r.scan_iter(match=f"{self.ns}:*", count=5000):
            r.delete(key)
        self.glue.delete_registry(RegistryId={"RegistryName": self.registry.registry_name})
        admin_client(self.cfg.kafka_bootstrap).delete_topics([*self.topics.values(), self.dlq])


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        with contextlib.suppress(OSError):
            out += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
    return out


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants (the Spark JVM and its Python
    workers, live or reaped): what a variant costs whatever else runs on the shared machine."""
    total, stack, seen = 0.0, [pid], set()
    tick = os.sysconf("SC_CLK_TCK")
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            # own user + system time, plus that of exited children it reaped (Python workers end
            # when a stopped query's tasks are cancelled: their CPU would vanish from the tree)
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
        except (OSError, IndexError, ValueError):
            pass
        stack += _children(p)
    return total


def _batch_rates(progress: list[dict[str, Any]]) -> list[tuple[int, float]]:
    out = []
    for p in progress:
        n, ms = p.get("numInputRows", 0), p.get("durationMs", {}).get("triggerExecution", 0)
        if n and ms:
            out.append((int(n), n / (ms / 1000)))
    return out


VARIANTS = ("baseline", "decode_fast", "full_reference", "full_fast")
# the fast decode stage cut after the JVM decode and after its Python pass (no deduplication)
# and the decode stage whose micro-batch is first cached (persist) or locally checkpointed, as a writer holds it
OPTIONAL_VARIANTS = (
    "decode_reference",
    "full_fast_decode",
    "stage_jvm",
    "stage_python",
    "decode_cached",
    "decode_checkpointed",
)


def throughput(
    spark: Any, bench: Bench, tmp: Path, batch: int, variants: tuple[str, ...] = VARIANTS, max_batches: int = 0
) -> dict[str, Any]:
    """Events/s per micro-batch of each variant over the same backlog, one after the other:
    ``baseline`` (Kafka source → count), ``decode_fast`` (the fast path's decode, validate, enrich,
    dedup → count), ``full_reference`` (the per-record path: codec decode, Python rules, Python
    segmentation, metrics and lake writer) and ``full_fast`` (the default fast path, every sink)."""
    from pyspark.sql import DataFrame

    results: dict[str, Any] = {}
    cpu: dict[str, float] = {}
    jvm_pid = int(spark._jvm.java.lang.ProcessHandle.current().pid())  # type: ignore[union-attr]

    def count_only(df: DataFrame, _batch_id: int) -> None:
        df.count()

    def measure(name: str, start: Any) -> None:
        c0 = process_tree_cpu_s(jvm_pid)
        q = start()
        while not q.awaitTermination(1):
            if max_batches and len(q.recentProgress) >= max_batches:
                q.stop()  # enough batches measured: the rest of the backlog is not needed
                break
        cpu[name] = process_tree_cpu_s(jvm_pid) - c0
        results[name] = _batch_rates(q.recentProgress)  # type: ignore[arg-type]
        print(f"batch {batch}: {name} {results[name]} (cpu {cpu[name]:.1f}s; load {os.getloadavg()})", flush=True)

    def cached_count(df: DataFrame, _batch_id: int) -> None:
        df.persist().count()
        df.unpersist()

    def checkpointed_count(df: DataFrame, _batch_id: int) -> None:
        df.localCheckpoint().count()

    def counted(name: str, df: DataFrame, body: Any = count_only) -> Any:
        return lambda: (
            df.writeStream.trigger(availableNow=True)
            .option("checkpointLocation", str(tmp / f"{name}-{batch}-ckpt"))
            .foreachBatch(body)
            .start()
        )

    cfg = bench.stream_config(tmp / f"full-{batch}", available_now=True, max_offsets_per_trigger=batch)
    for name in variants:
        if name == "baseline":
            base = (
                spark.readStream.format("kafka")
                .option("kafka.bootstrap.servers", cfg.kafka_bootstrap)
                .option("subscribe", ",".join(cfg.topics))
                .option("startingOffsets", "earliest")
                .option("maxOffsetsPerTrigger", str(batch))
                .load()
            )
            measure(name, counted(name, base))
        elif name in ("stage_jvm", "stage_python"):
            measure(name, counted(name, job.events_stream(spark, cfg, upto=name.removeprefix("stage_"))))
        elif name in ("decode_cached", "decode_checkpointed"):
            body = cached_count if name == "decode_cached" else checkpointed_count
            measure(name, counted(name, job.events_stream(spark, cfg), body))
        elif name in ("decode_fast", "decode_reference"):
            stage_cfg = cfg.model_copy(update={"fast_path": name == "decode_fast"})
            measure(name, counted(name, job.events_stream(spark, stage_cfg)))
        elif name in ("full_reference", "full_fast", "full_fast_decode"):
            full_cfg = bench.stream_config(
                tmp / f"{name}-{batch}",
                available_now=True,
                max_offsets_per_trigger=batch,
                fast_path=name != "full_reference",
                spark_sinks=name == "full_fast",
            )
            measure(name, lambda full_cfg=full_cfg: job.start(spark, full_cfg))
        else:
            raise ValueError(f"unknown variant {name!r}; known: {', '.join(VARIANTS + OPTIONAL_VARIANTS)}")
    return {"rates": results, "cpu_s": cpu}


FRESHNESS_PATHS = {"fast": (True, True), "reference": (False, True), "fast_decode": (True, False)}


def freshness(
    spark: Any, bench: Bench, tmp: Path, rate: int, seconds: int, path: str = "reference"
) -> dict[str, float]:
    import pyarrow.dataset as ds

    fast, spark_sinks = FRESHNESS_PATHS[path]
    cfg = bench.stream_config(
        tmp / f"fresh-{rate}-{path}",
        starting_offsets="latest",
        trigger_seconds=10.0,
        fast_path=fast,
        spark_sinks=spark_sinks,
    )
    query = job.start(spark, cfg)
    time.sleep(12)  # the first (empty) batch and the Python workers
    stop = time.monotonic() + seconds
    seed = 1000 + rate

    def steady() -> None:
        nonlocal seed
        while time.monotonic() < stop:
            t0 = time.monotonic()
            bench.produce(rate, seed, dup_every=10**9)
            seed += 1
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))

    producer = threading.Thread(target=steady)
    producer.start()
    producer.join()
    time.sleep(22)  # two more triggers drain what was sent last
    query.stop()
    processed = {}
    for f in (Path(cfg.lake_dir) / "_ledger").rglob("batch-*.json"):
        doc = json.loads(f.read_text())
        processed[doc["batch_id"]] = datetime.fromisoformat(doc["processed_at"]).timestamp() * 1000
    table = ds.dataset(str(cfg.lake_dir), format="parquet", partitioning="hive").to_table(
        columns=["received_ms", "stream_batch_id"]
    )
    lags = sorted(
        (processed[b] - r) / 1000
        for r, b in zip(table["received_ms"].to_pylist(), table["stream_batch_id"].to_pylist(), strict=True)
    )
    if not lags:
        return {"events": 0, "p50": float("nan"), "p95": float("nan")}
    return {
        "events": len(lags),
        "p50": statistics.median(lags),
        "p95": lags[int(0.95 * (len(lags) - 1))],
    }


def _summary(rows: list[tuple[int, float]], cpu_s: float) -> dict[str, Any]:
    steady = [r for _, r in rows[1:]] or [r for _, r in rows]
    cpu_us = cpu_s / max(1, sum(n for n, _ in rows)) * 1e6
    return {
        "batches": len(rows),
        "events": sum(n for n, _ in rows),
        "first_batch_events_per_s": round(rows[0][1]) if rows else None,
        "steady_events_per_s": round(statistics.median(steady)) if steady else None,
        # CPU of the whole backlog (first batch included) per event, and the rate two dedicated
        # cores would reach at that cost: independent of the machine's other load
        "cpu_us_per_event": round(cpu_us, 1),
        "events_per_s_on_2_idle_cores": round(2e6 / cpu_us),
    }


def main(
    events: int = 600_000,
    batches: tuple[int, ...] = (25_000, 300_000),
    freshness_seconds: int = 30,
    variants: tuple[str, ...] = VARIANTS,
    max_batches: int = 0,
    freshness_paths: tuple[str, ...] = ("fast", "reference"),
) -> dict[str, Any]:
    cfg = engines.EngineConfig()
    states = engines.up(cfg)
    ns = f"bench{uuid.uuid4().hex[:6]}"
    tmp = Path(tempfile.mkdtemp(prefix="aa-stream-bench-"))
    bench = Bench(cfg, ns)
    report: dict[str, Any] = {"load_average_start": os.getloadavg()}
    spark = None
    try:
        t0 = time.monotonic()
        produced = bench.produce(events, seed=1)
        print(f"produced {produced} events in {time.monotonic() - t0:.1f}s", flush=True)
        report["events"] = produced
        spark = job.build_spark(bench.stream_config(tmp))
        for batch in batches:
            measured = throughput(spark, bench, tmp, batch, variants, max_batches)
            out: dict[str, Any] = {"load_average_after": os.getloadavg()}
            for name, rows in measured["rates"].items():
                out[name] = _summary(rows, measured["cpu_s"][name])
            for name in measured["rates"]:
                if "baseline" in out and out[name]["steady_events_per_s"]:
                    out[name]["vs_baseline"] = round(
                        out[name]["steady_events_per_s"] / out["baseline"]["steady_events_per_s"], 3
                    )
            if "full_fast" in out and "full_reference" in out:
                out["full_fast_vs_full_reference"] = round(
                    out["full_fast"]["steady_events_per_s"] / out["full_reference"]["steady_events_per_s"], 2
                )
            report[f"batch_{batch}"] = out
            print(json.dumps(out, indent=2), flush=True)
        if freshness_seconds:
            for path in freshness_paths:
                for label, rate in (("demo_20_per_s", 20), ("10x_200_per_s", 200)):
                    got = freshness(spark, bench, tmp, rate, freshness_seconds, path)
                    report[f"freshness_{label}_{path}"] = {**got, "load_average": os.getloadavg()}
                    print(label, path, report[f"freshness_{label}_{path}"], flush=True)
    finally:
        if spark is not None:
            spark.stop()
        bench.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
        if any(s == "started" for s in states.values()):
            engines.down(cfg)
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming", description=__doc__)
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument(
        "--batch", type=int, action="append", help="events per micro-batch (repeatable; default 25000 and 300000)"
    )
    parser.add_argument("--freshness-seconds", type=int, default=30)
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS + OPTIONAL_VARIANTS)}"
    )
    parser.add_argument(
        "--max-batches", type=int, default=0, help="stop each variant after this many batches (0: the whole backlog)"
    )
    parser.add_argument(
        "--freshness-paths",
        default="fast,reference",
        help=f"comma-separated, of {', '.join(FRESHNESS_PATHS)} (fast_decode: fast decode, Python sinks)",
    )
    a = parser.parse_args()
    main(
        a.events,
        tuple(a.batch or (25_000, 300_000)),
        a.freshness_seconds,
        tuple(a.variants.split(",")),
        a.max_batches,
        tuple(a.freshness_paths.split(",")),
    )
