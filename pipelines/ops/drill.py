"""Disaster-recovery drills on real local engines: each enacts a failure, recovers with the
runbook's commands and reports the time to recover and the acknowledged events lost (must be 0).

    python -m pipelines.ops.drill                 # every drill (make drill)
    python -m pipelines.ops.drill redis schema    # some (load-broker restarts the drill engines first)
    python -m pipelines.ops.drill --list

| drill | enacted | recovered with | verified |
|---|---|---|---|
| ``broker`` | ``kill -9`` of the Kafka broker under HTTP load | broker restart (the collector spills to its journal, then replays) | every acknowledged event id is in Kafka, none twice |
| ``collector`` | SIGTERM of the collector under HTTP load | restart on the same journal | every acknowledged event id is in Kafka |
| ``stream`` | ``kill -9`` of the Spark stream mid-run, then its newest checkpoint entries overwritten | ``python -m pipelines.ops.checkpoint repair``, stream restarted | every produced event is in the lake exactly once; Redis equals a rebuild from the lake |
| ``redis`` | ``FLUSHDB`` of the stream's Redis | ``python -m pipelines.ops.redis_state rebuild`` | every key equal to before (hash fields, HLL counts, ledger, markers) |
| ``warehouse`` | a day's rows deleted from every staging model and mart | ``python -m pipelines.batch backfill`` of that day | every table equal to before |
| ``schema`` | an incompatible change to ``schemas/affiliate_click.avsc`` | the compatibility gate refuses it; the revert passes | gate exit codes and the named field |
| ``load-broker`` | ``kill -9`` of the broker during the 10x (peak) Locust profile (``pipelines.traffic.load``) | broker restart; the stream catches up | Kafka holds every record Locust's tally expects; the quality ledger (``pipelines.quality.ledger``) balances in every window |

Engines run on their own ports (``AA_DRILL_PORT_BASE``, default 24000: Kafka +0/+1, Redis +2,
moto +3, collector +10) with state under ``.local/drill/`` (``AA_DRILL_DIR``), so a running demo or
test suite is not touched. The report (one JSON line per drill, then a table) is also written to
``<drill dir>/report.json``. Exit status 0 only when every drill recovered with 0 events lost.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.collector.config import local_salt_file
from pipelines.kafka_io import read_to_end, record_counts
from pipelines.local import engines

REPO = Path(__file__).resolve().parents[2]


@dataclass
class DrillResult:
    name: str
    ok: bool
    recovery_s: float
    acknowledged: int
    lost: int
    duplicates: int = 0
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "drill": self.name,
            "ok": self.ok,
            "recovery_s": round(self.recovery_s, 2),
            "acknowledged": self.acknowledged,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "detail": self.detail,
            "error": self.error,
        }


def say(msg: str) -> None:
    print(f"==> {msg}", file=sys.stderr, flush=True)


def poll(check: Callable[[], bool], what: str, timeout_s: float, interval_s: float = 0.1) -> float:
    """Until ``check()``; returns the seconds it took; raises naming ``what`` on timeout."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError(f"{what}: not reached within {timeout_s:.0f}s")
        time.sleep(interval_s)
    return time.monotonic() - t0


# ---------------------------------------------------------------- the drill environment


@dataclass(frozen=True)
class Outage:
    """Monotonic times of a broker outage drill and the records the collector spilled meanwhile."""

    killed: float
    restarted: float
    drained: float
    spilled: int


class Context:
    """Engines, contracts and helpers shared by the drills of one run."""

    def __init__(
        self,
        work: Path,
        cfg: engines.EngineConfig,
        collector_port: int,
        topic_prefix: str = "",
        registry_name: str = "affiliate-analytics",
        manage_engines: bool = True,
    ) -> None:
        self.work = work
        self.cfg = cfg
        self.collector_port = collector_port
        self.topic_prefix = topic_prefix
        self.registry_name = registry_name
        self.manage_engines = manage_engines
        self._codec: Any = None
        self.procs: list[subprocess.Popen[bytes]] = []
        self.streamed = False
        self.dirty = False  # a drill has run on these engines

    @classmethod
    def from_env(cls) -> Context:
        base = int(os.environ.get("AA_DRILL_PORT_BASE", "24000"))
        work = Path(os.environ.get("AA_DRILL_DIR", REPO / ".local" / "drill"))
        cfg = engines.EngineConfig(
            state_dir=work / "engines",
            kafka_port=base,
            kafka_controller_port=base + 1,
            redis_port=base + 2,
            moto_port=base + 3,
        )
        return cls(work, cfg, base + 10)

    def topics(self, event_types: bool = True) -> list[str]:
        from pipelines.contracts.topics import load_topics

        return [
            f"{self.topic_prefix}{s.name}" for s in load_topics() if not event_types or s.event_type != "dead_letter"
        ]

    def setup(self) -> None:
        from pipelines.contracts.registry import GlueSchemaRegistry, glue_client
        from pipelines.contracts.topics import TopicSpec, admin_client, load_topics, sync_topics

        self.work.mkdir(parents=True, exist_ok=True)
        if self.manage_engines:
            engines.up(self.cfg)
        specs = [
            TopicSpec(f"{self.topic_prefix}{s.name}", s.event_type, s.partitions, s.key, s.config)
            for s in load_topics()
        ]
        sync_topics(admin_client(self.cfg.kafka_bootstrap), specs, replication_factor=1)
        GlueSchemaRegistry(glue_client(self.cfg.moto_url), self.registry_name).register_all()

    def teardown(self) -> None:
        self.stop_procs()
        if self.manage_engines:
            engines.down(self.cfg)

    @property
    def codec(self) -> Any:
        if self._codec is None:
            from pipelines.contracts.codec import Codec
            from pipelines.contracts.registry import GlueSchemaRegistry, current_versions, glue_client

            registry = GlueSchemaRegistry(glue_client(self.cfg.moto_url), self.registry_name)
            self._codec = Codec(registry, current_versions(registry.register_all()))
        return self._codec

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.cfg.env(), "AA_REGISTRY_NAME": self.registry_name, "PYTHONUNBUFFERED": "1"}

    def spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = self.work / "logs" / f"{name}.log"
        proc = engines.spawn_logged([sys.executable, *args], log, {**self.env(), **(extra_env or {})}, cwd=REPO)
        self.procs.append(proc)
        return proc

    def stop_procs(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()

    # ------------------------------------------------------------ collector

    @property
    def collector_url(self) -> str:
        return f"http://127.0.0.1:{self.collector_port}"

    def start_collector(self, journal: Path, **extra: Any) -> subprocess.Popen[bytes]:
        salt = local_salt_file(self.work)
        config = {
            "port": self.collector_port,
            "ip_salt_file": str(salt),
            "kafka_bootstrap": self.cfg.kafka_bootstrap,
            "glue_endpoint": self.cfg.moto_url,
            "registry_name": self.registry_name,
            "topic_prefix": self.topic_prefix,
            "journal_dir": str(journal),
            "delivery_timeout_ms": 2000,
            "probe_interval_s": 0.5,
            **extra,
        }
        cfg_file = self.work / "collector.json"
        cfg_file.write_text(json.dumps(config))
        proc = self.spawn("collector", ["-m", "pipelines.collector"], {"AA_COLLECTOR_CONFIG": str(cfg_file)})

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"collector exited with {proc.returncode}; see {self.work / 'logs' / 'collector.log'}"
                )
            return http_status(f"{self.collector_url}/readyz") == 200

        poll(ready, "collector ready", 60)
        return proc

    def collector_metric(self, name: str) -> float:
        import httpx

        total = 0.0
        for line in httpx.get(f"{self.collector_url}/metrics", timeout=5).text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def kill_broker_and_recover(self, when: str, min_spilled: int) -> Outage:
        """kill -9 the broker, wait until the collector has spilled ``min_spilled`` records, restart
        the broker and wait until the collector is ready with its journal drained."""
        pid = int((self.cfg.state_dir / "kafka.pid").read_text())
        say(f"kill -9 broker (pid {pid}) {when}")
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        spilled_metric = "collector_records_spilled_total"
        poll(lambda: self.collector_metric(spilled_metric) >= min_spilled, f"{min_spilled} records spilled", 60)
        spilled = int(self.collector_metric(spilled_metric))
        say("broker restart")
        restarted = time.monotonic()
        engines.start_kafka(self.cfg)
        poll(
            lambda: (
                http_status(f"{self.collector_url}/readyz") == 200
                and self.collector_metric("collector_journal_bytes") == 0
            ),
            "collector ready with its journal drained",
            120,
            0.2,
        )
        return Outage(killed, restarted, time.monotonic(), spilled)

    # ------------------------------------------------------------ Kafka

    def kafka_ids(self, topics: list[str] | None = None) -> Counter[str]:
        """Event ids in the topics, from the beginning to the high watermarks."""
        return Counter(
            str(self.codec.decode(msg.value() or b"").record["event_id"])
            for msg in read_to_end(self.cfg.kafka_bootstrap, topics or self.topics())
        )

    def produce(self, n_sessions: int, seed: int) -> set[str]:
        """Events of generated sessions, produced straight to Kafka with acks=all; the acknowledged ids."""
        from confluent_kafka import Producer

        from pipelines.contracts.samples import generate, message_key
        from pipelines.contracts.topics import load_topics

        topic = {s.event_type: f"{self.topic_prefix}{s.name}" for s in load_topics()}
        producer = Producer({"bootstrap.servers": self.cfg.kafka_bootstrap, "acks": "all", "enable.idempotence": True})
        acked: set[str] = set()
        now = int(time.time() * 1000)
        for s in generate(n_sessions, seed=seed, start_ms=now - n_sessions * 3000 - 60_000):
            record = {**s.record, "event_id": str(uuid.uuid4())}
            if "context" in record:
                record["context"] = {**record["context"], "collector_received_at": now}
            else:  # a postback: received now, about a sale in the past (the stream dead-letters future events)
                record["collector_received_at"] = now
                record["occurred_at"] = min(int(record["occurred_at"]), now - 1000)
            eid = record["event_id"]
            producer.produce(
                topic[s.event_type],
                self.codec.encode(s.event_type, record),
                key=message_key(s.event_type, record),
                on_delivery=lambda err, _m, e=eid: None if err else acked.add(e),
            )
            producer.poll(0)
        if producer.flush(60):
            raise RuntimeError("records not acknowledged by Kafka within 60 s")
        return acked

    # ------------------------------------------------------------ stream

    def stream_args(self, *extra: str, lake: str = "lake", checkpoint: str = "checkpoint") -> list[str]:
        return [
            "-m",
            "pipelines.streaming",
            "run",
            "--lake-dir",
            str(self.work / lake),
            "--checkpoint-dir",
            str(self.work / checkpoint),
            "--registry-name",
            self.registry_name,
            *extra,
        ]

    def run_stream_once(self, timeout_s: float = 600, **dirs: str) -> None:
        proc = self.spawn("stream", self.stream_args("--available-now", **dirs))
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise TimeoutError(f"stream did not finish in {timeout_s:.0f}s") from None
        finally:
            self.procs.remove(proc)
        if rc != 0:
            raise RuntimeError(f"stream exited with {rc}; see {self.work / 'logs' / 'stream.log'}")
        self.streamed = True

    def redis(self) -> Any:
        import redis

        return redis.Redis.from_url(self.cfg.redis_url)


def http_status(url: str) -> int | None:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


class Load:
    """HTTP load on the collector: batches of unique browser events from worker threads; keeps the
    event ids the collector acknowledged (200)."""

    def __init__(self, url: str, threads: int = 4, batch: int = 10, pause_s: float = 0.01, seed: int = 3) -> None:
        from pipelines.contracts.samples import generate
        from pipelines.demo import to_wire

        self.url, self.threads, self.batch, self.pause_s = url, threads, batch, pause_s
        self.pool = [to_wire(s) for s in generate(200, seed=seed) if s.event_type != "conversion"]
        self.acked: set[str] = set()
        self.statuses: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def _work(self, i: int) -> None:
        import httpx
        import orjson

        n = i
        with httpx.Client(base_url=self.url, timeout=15) as client:
            while not self._stop.is_set():
                now = int(time.time() * 1000)
                events = []
                for _ in range(self.batch):
                    ev = self.pool[n % len(self.pool)]
                    n += self.threads
                    events.append(
                        {**ev, "event_id": str(uuid.uuid4()), "context": {**ev["context"], "device_sent_at": now}}
                    )
                try:
                    r = client.post(
                        "/v1/events",
                        content=orjson.dumps({"events": events}),
                        headers={"content-type": "text/plain;charset=UTF-8"},
                    )
                    status = str(r.status_code)
                except httpx.HTTPError:
                    status = "connection-error"  # never acknowledged: the tracer would retry
                with self._lock:
                    self.statuses[status] += 1
                    if status == "200":
                        self.acked.update(e["event_id"] for e in events)
                if status != "200":
                    time.sleep(0.2)
                self._stop.wait(self.pause_s)

    def start(self) -> Load:
        self._workers = [threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(self.threads)]
        for w in self._workers:
            w.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for w in self._workers:
            w.join(30)

    def count(self) -> int:
        with self._lock:
            return len(self.acked)


# ---------------------------------------------------------------- drills


def _lost(acked: set[str], ids: Counter[str]) -> tuple[int, int]:
    return len(acked - set(ids)), sum(1 for i in acked if ids[i] > 1)


def drill_broker(ctx: Context) -> DrillResult:
    """kill -9 the broker under load; restart it; the journal drains."""
    journal = ctx.work / "journal-broker"
    shutil.rmtree(journal, ignore_errors=True)
    collector = ctx.start_collector(journal)
    load = Load(ctx.collector_url).start()
    try:
        poll(lambda: load.count() >= 300, "300 events acknowledged before the failure", 60)
        outage = ctx.kill_broker_and_recover("under load", min_spilled=100)
        t0, t_restart, t1, spilled_at_restart = outage.killed, outage.restarted, outage.drained, outage.spilled
        acked_before = load.count()
        poll(lambda: load.count() >= acked_before + 100, "traffic acknowledged after recovery", 60)
    finally:
        load.stop()
        collector.send_signal(signal.SIGTERM)
        collector.wait(30)
        ctx.procs.remove(collector)
    ids = ctx.kafka_ids()
    lost, dups = _lost(load.acked, ids)
    return DrillResult(
        "broker",
        lost == 0,
        t1 - t0,
        len(load.acked),
        lost,
        dups,
        {
            "outage_s": round(t_restart - t0, 2),
            "restart_to_drained_s": round(t1 - t_restart, 2),
            "spilled": int(spilled_at_restart),
            "statuses": dict(load.statuses),
        },
    )


def drill_collector(ctx: Context) -> DrillResult:
    """SIGTERM the collector under load; restart it on the same journal."""
    journal = ctx.work / "journal-collector"
    shutil.rmtree(journal, ignore_errors=True)
    collector = ctx.start_collector(journal)
    load = Load(ctx.collector_url).start()
    try:
        poll(lambda: load.count() >= 300, "300 events acknowledged before the failure", 60)
        say(f"SIGTERM collector (pid {collector.pid}) under load")
        t0 = time.monotonic()
        collector.send_signal(signal.SIGTERM)
        rc = collector.wait(60)
        ctx.procs.remove(collector)
        drained_s = time.monotonic() - t0
        collector = ctx.start_collector(journal)
        t1 = time.monotonic()
        acked_before = load.count()
        poll(lambda: load.count() >= acked_before + 100, "traffic acknowledged after the restart", 60)
    finally:
        load.stop()
        collector.send_signal(signal.SIGTERM)
        collector.wait(30)
        if collector in ctx.procs:
            ctx.procs.remove(collector)
    ids = ctx.kafka_ids()
    lost, dups = _lost(load.acked, ids)
    return DrillResult(
        "collector",
        lost == 0 and rc in (0, -signal.SIGTERM),
        t1 - t0,
        len(load.acked),
        lost,
        dups,
        {"exit_code": rc, "drain_s": round(drained_s, 2), "statuses": dict(load.statuses)},
    )


def _lake_ids(lake: Path) -> Counter[str]:
    import pyarrow.parquet as pq

    ids: Counter[str] = Counter()
    for path in lake.glob("event_type=*/date=*/hour=*/*.parquet"):
        ids.update(pq.read_table(path, columns=["event_id"]).column("event_id").to_pylist())
    return ids


def _corrupt_newest(checkpoint: Path) -> list[str]:
    """Overwrite the newest offsets and commits entries as a torn write would leave them."""
    done = []
    for kind in ("offsets", "commits"):
        entries = sorted((p for p in (checkpoint / kind).glob("*") if p.name.isdigit()), key=lambda p: int(p.name))
        if entries:
            entries[-1].write_bytes(b'v1\n{"batchWatermarkMs":0,\x00\x00')
            done.append(f"{kind}/{entries[-1].name}")
    return done


def drill_stream(ctx: Context) -> DrillResult:
    """kill -9 the stream mid-run, corrupt its newest checkpoint entries, repair, restart."""
    from pipelines.ops import checkpoint, redis_state

    for d in ("lake", "checkpoint"):
        shutil.rmtree(ctx.work / d, ignore_errors=True)
    for p in ctx.work.glob("checkpoint.quarantine-*"):
        shutil.rmtree(p)
    client = ctx.redis()
    client.flushdb()
    produced = ctx.produce(60, seed=11)
    proc = ctx.spawn("stream", ctx.stream_args("--trigger-seconds", "1", "--max-offsets-per-trigger", "60"))
    ledgers = ctx.work / "lake" / "_ledger"
    poll(lambda: len(list(ledgers.glob("*/batch-*.json"))) >= 3, "3 stream batches applied", 240, 0.2)
    say(f"kill -9 stream (pid {proc.pid}) mid-run")
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    ctx.procs.remove(proc)
    corrupted = _corrupt_newest(ctx.work / "checkpoint")
    before = checkpoint.inspect(ctx.work / "checkpoint", ctx.work / "lake", client)
    repaired = checkpoint.repair(ctx.work / "checkpoint", ctx.work / "lake", client)
    produced |= ctx.produce(40, seed=12)
    ctx.run_stream_once()
    t1 = time.monotonic()
    after = checkpoint.inspect(ctx.work / "checkpoint", ctx.work / "lake", client)
    ids = _lake_ids(ctx.work / "lake")
    lost, dups = _lost(produced, ids)
    dup_rows = sum(n - 1 for n in ids.values() if n > 1)
    written = int(client.hget("aa:ledger:total", "written") or 0)
    # the real-time state must be what the lake implies: rebuild it elsewhere and compare
    live = redis_state.snapshot(client, "aa")
    redis_state.rebuild(client, ctx.work / "lake", "aa-check", force=True)
    rebuilt = redis_state.snapshot(client, "aa-check")
    for key in list(client.scan_iter("aa-check:*", count=1000)):
        client.delete(key)
    problems = redis_state.diff(live, rebuilt)
    ctx.streamed = True
    return DrillResult(
        "stream",
        lost == 0 and dup_rows == 0 and written == sum(ids.values()) and not problems and after.healthy,
        t1 - t0,
        len(produced),
        lost,
        dups,
        {
            "corrupted": corrupted,
            "last_whole_batch": before.last_whole,
            "quarantined": repaired.get("quarantined"),
            "lake_files_rolled_back": repaired.get("lake_files_removed"),
            "redis_rebuilt": repaired.get("redis_rebuilt"),
            "lake_rows": sum(ids.values()),
            "duplicate_rows": dup_rows,
            "ledger_written": written,
            "redis_vs_lake": problems[:5],
        },
    )


def drill_redis(ctx: Context) -> DrillResult:
    """FLUSHDB the stream's Redis, rebuild it from the lake."""
    from pipelines.ops import redis_state

    client = ctx.redis()
    if not ctx.streamed or not (ctx.work / "lake").exists():
        shutil.rmtree(ctx.work / "lake", ignore_errors=True)
        shutil.rmtree(ctx.work / "checkpoint", ignore_errors=True)
        client.flushdb()
        ctx.produce(60, seed=21)
        ctx.run_stream_once()
    before = redis_state.snapshot(client, "aa")
    events_before = sum(sum(v.values()) for k, v in before.items() if k.endswith(":events"))
    say("FLUSHDB")
    t0 = time.monotonic()
    client.flushdb()
    report = redis_state.rebuild(client, ctx.work / "lake", "aa")
    t1 = time.monotonic()
    after = redis_state.snapshot(client, "aa")
    events_after = sum(sum(v.values()) for k, v in after.items() if k.endswith(":events"))
    problems = redis_state.diff(before, after)
    return DrillResult(
        "redis",
        not problems and events_before > 0,
        t1 - t0,
        events_before,
        events_before - events_after,
        0,
        {"keys": len(before), "rows": report.rows, "batches": report.batches, "differences": problems[:5]},
    )


def _warehouse_tables(con: Any) -> dict[str, str]:
    """Staging models and marts with their date column."""
    rows = con.execute(
        "select table_schema || '.' || table_name, column_name from information_schema.columns "
        "where table_schema in ('staging', 'marketing', 'product', 'segments', 'self_service') "
        "and column_name in ('event_date', 'activity_date', 'conversion_date') "
        "and table_name in (select table_name from information_schema.tables where table_type = 'BASE TABLE')"
    ).fetchall()
    return {t: c for t, c in sorted(rows)}


def _table_diff(con: Any, table: str) -> int:
    """Rows of ``table`` that differ between the attached ``before`` and ``after`` databases, ignoring
    load timestamps; floating-point ratios are compared to 9 decimals (a rebuild may sum in another
    order and differ in the last bit)."""
    cols = con.execute(
        f"select column_name, data_type from information_schema.columns where table_catalog = 'before' "
        f"and table_schema || '.' || table_name = '{table}' and column_name not like '%loaded_at%'"
    ).fetchall()
    sel = ", ".join(f'round("{c}", 9)' if t in ("DOUBLE", "FLOAT", "REAL") else f'"{c}"' for c, t in cols)
    row = con.execute(
        f"select count(*) from ((select {sel} from before.{table} except all select {sel} from after.{table}) "
        f"union all (select {sel} from after.{table} except all select {sel} from before.{table}))"
    ).fetchone()
    return int(row[0]) if row else 0


def drill_warehouse(ctx: Context) -> DrillResult:
    """Delete a day from every staging model and mart; backfill it from the lake."""
    import duckdb

    from pipelines.batch.generate import GenerateOptions, generate_rows, write_lake

    lake, db = ctx.work / "wh-lake", ctx.work / "warehouse.duckdb"
    shutil.rmtree(lake, ignore_errors=True)
    db.unlink(missing_ok=True)
    write_lake(generate_rows(GenerateOptions(sessions=400, seed=5)), lake)
    env = {"AA_LAKE_DIR": str(lake), "AA_WAREHOUSE_PATH": str(db), "AA_DBT_TARGET": "local"}
    batch = ["-m", "pipelines.batch", "--work-dir", str(ctx.work / "batch")]
    _run(ctx, "dbt-build", [*batch, "run", "--schedule", "hourly"], env)
    before = ctx.work / "warehouse-before.duckdb"
    shutil.copy(db, before)
    con = duckdb.connect(str(db))
    tables = _warehouse_tables(con)
    row = con.execute(
        "select event_date, count(*) from staging.stg_events__page_views group by 1 order by 2 desc"
    ).fetchone()
    assert row is not None, "the warehouse has no page views"
    day = row[0]
    staged = sum(
        int(con.execute(f"select count(*) from {t} where event_date = ?", [day]).fetchone()[0])  # type: ignore[index]
        for t, c in tables.items()
        if t.startswith("staging.")
    )
    say(f"deleting {day} from {len(tables)} warehouse tables")
    t0 = time.monotonic()
    for table, col in tables.items():
        con.execute(f"delete from {table} where {col} = ?", [day])
    con.close()
    _run(ctx, "dbt-backfill", [*batch, "backfill", "--from", str(day), "--to", str(day)], env)
    t1 = time.monotonic()
    con = duckdb.connect()
    con.execute(f"attach '{before}' as before (read_only)")
    con.execute(f"attach '{db}' as after (read_only)")
    diffs = {t: n for t in tables if (n := _table_diff(con, t))}
    restaged = sum(
        int(con.execute(f"select count(*) from after.{t} where event_date = ?", [day]).fetchone()[0])  # type: ignore[index]
        for t in tables
        if t.startswith("staging.")
    )
    return DrillResult(
        "warehouse",
        not diffs and staged > 0,
        t1 - t0,
        staged,
        staged - restaged,
        0,
        {"day": str(day), "tables": len(tables), "differing_tables": diffs},
    )


def _run(ctx: Context, name: str, args: list[str], env: dict[str, str], timeout_s: float = 900) -> None:
    proc = ctx.spawn(name, args, env)
    try:
        rc = proc.wait(timeout=timeout_s)
    finally:
        if proc in ctx.procs:
            ctx.procs.remove(proc)
    if rc != 0:
        raise RuntimeError(f"{name} exited with {rc}; see {ctx.work / 'logs' / f'{name}.log'}")


def drill_schema(ctx: Context) -> DrillResult:
    """An incompatible schema change meets the gate: refused, naming the field; the revert passes."""
    repo = ctx.work / "schema-repo"
    shutil.rmtree(repo, ignore_errors=True)
    shutil.copytree(REPO / "schemas", repo / "schemas")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("-c", "user.name=drill", "-c", "user.email=drill@example.com", "add", "schemas")
    git("-c", "user.name=drill", "-c", "user.email=drill@example.com", "commit", "-q", "-m", "schemas as on main")
    path = repo / "schemas" / "affiliate_click.avsc"
    doc = json.loads(path.read_text())
    for f in doc["fields"]:
        if f["name"] == "position":
            f["type"] = "string"
    good = path.read_text()
    path.write_text(json.dumps(doc, indent=2))
    gate = [sys.executable, "-m", "pipelines.contracts.compat", "--repo", str(repo)]
    say("deploying an incompatible affiliate_click (position: int → string) through the gate")
    refused = subprocess.run(gate, capture_output=True, text=True, cwd=REPO, check=False)
    t0 = time.monotonic()
    path.write_text(good)  # the revert
    passed = subprocess.run(gate, capture_output=True, text=True, cwd=REPO, check=False)
    t1 = time.monotonic()
    named = "'position'" in refused.stderr and "affiliate_click.avsc" in refused.stderr
    return DrillResult(
        "schema",
        refused.returncode == 1 and named and passed.returncode == 0,
        t1 - t0,
        0,
        0,
        0,
        {
            "gate_exit_incompatible": refused.returncode,
            "gate_exit_reverted": passed.returncode,
            "message": refused.stderr.strip().splitlines()[0] if refused.stderr.strip() else "",
        },
    )


def drill_load_broker(ctx: Context, duration_s: int = 45) -> DrillResult:
    """10x (peak) Locust load while the broker is killed; the quality ledger balances afterwards."""
    from pipelines.quality import ledger
    from pipelines.traffic.load import NETWORKS, run_locust

    if ctx.manage_engines and ctx.dirty:  # a clean Kafka and Redis: the ledger then sees only this drill's minutes
        ctx.stop_procs()
        engines.down(ctx.cfg)
        ctx._codec = None
        ctx.setup()
        ctx.streamed = False
    for d in ("lb-lake", "lb-checkpoint", "journal-load"):
        shutil.rmtree(ctx.work / d, ignore_errors=True)
    signing_key, network_secret = secrets.token_hex(16), secrets.token_hex(16)
    collector = ctx.start_collector(
        ctx.work / "journal-load",
        allowed_origins=["https://site-bestlaptops.example", "https://site-coffeegear.example"],
        redirect_domains={"amazon.com": {"subid_param": "tag"}, "bestbuy.com": {}, "walmart.com": {}},
        redirect_signing_key=signing_key,
        postback_networks={n: {"secret": network_secret} for n in NETWORKS},
        ledger_redis_url=ctx.cfg.redis_url,
        ledger_flush_interval_s=0.5,
    )
    env = {
        **ctx.env(),
        "AA_TRAFFIC_SIGNING_KEY": signing_key,
        "AA_TRAFFIC_NETWORK_SECRETS": json.dumps(dict.fromkeys(NETWORKS, network_secret)),
    }
    report_file = ctx.work / "locust-report.json"
    report_file.unlink(missing_ok=True)
    start_minute = ledger.now_minute()
    result: dict[str, int] = {}
    locust = threading.Thread(
        target=lambda: result.update(
            rc=run_locust(ctx.collector_url, "peak", f"{duration_s}s", report_file, env, 0.01, 50.0)
        )
    )
    locust.start()
    try:
        time.sleep(duration_s / 4)  # the load runs before the failure
        outage = ctx.kill_broker_and_recover("under the 10x profile", min_spilled=20)
        t0, t1, spilled = outage.killed, outage.drained, outage.spilled
        locust.join(duration_s + 120)
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(30)
        ctx.procs.remove(collector)
    verdict = json.loads(report_file.read_text()) if report_file.exists() else {}
    expected = Counter(verdict.get("tally", {}).get("expected_records", {}))
    ctx.run_stream_once(lake="lb-lake", checkpoint="lb-checkpoint")
    end_minute = ledger.now_minute() + 1
    led = ledger.collect(
        redis_client=ctx.redis(),
        prefix="aa",
        start=start_minute,
        end=end_minute,
        kafka_bootstrap=ctx.cfg.kafka_bootstrap,
        lake_dir=ctx.work / "lb-lake",
    )
    windows = ledger.balance(led, time.time() + 3600, 0, 0, check_warehouse=False)
    statuses = Counter(w.status for w in windows)
    unbalanced = [w.row() for w in windows if w.status == "unbalanced"]
    accepted = sum(w.accepted for w in windows)
    written = sum(w.written for w in windows)
    totals = _topic_totals(ctx)
    lost = sum(max(n - totals.get(t, 0), 0) for t, n in expected.items())
    return DrillResult(
        "load-broker",
        not unbalanced and statuses.get("balanced", 0) > 0 and lost == 0 and bool(expected),
        t1 - t0,
        sum(expected.values()),
        lost,
        0,
        {
            "locust_exit": result.get("rc"),
            "requests": verdict.get("requests"),
            "error_rate": verdict.get("error_rate"),
            "p99_ms": verdict.get("p99_ms"),
            "spilled": int(spilled),
            "windows": dict(statuses),
            "accepted": accepted,
            "written": written,
            "unbalanced": unbalanced[:3],
        },
    )


def _topic_totals(ctx: Context) -> dict[str, int]:
    """Records per event type in the (fresh) topics."""
    from pipelines.contracts.topics import load_topics

    names = {s.event_type: f"{ctx.topic_prefix}{s.name}" for s in load_topics()}
    counts = record_counts(ctx.cfg.kafka_bootstrap, list(names.values()))
    return {event_type: counts[name] for event_type, name in names.items()}


DRILLS: dict[str, Callable[[Context], DrillResult]] = {
    "schema": drill_schema,
    "broker": drill_broker,
    "collector": drill_collector,
    "stream": drill_stream,
    "redis": drill_redis,
    "warehouse": drill_warehouse,
    "load-broker": drill_load_broker,
}


def run(ctx: Context, names: list[str]) -> list[DrillResult]:
    results = []
    ctx.setup()
    try:
        for name in names:
            say(f"drill {name}")
            t0 = time.monotonic()
            try:
                result = DRILLS[name](ctx)
            except Exception as exc:  # a failed drill is reported, the others still run
                result = DrillResult(name, False, time.monotonic() - t0, 0, -1, error=f"{type(exc).__name__}: {exc}")
            ctx.stop_procs()
            ctx.dirty = True
            print(json.dumps(result.as_dict()), flush=True)
            results.append(result)
    finally:
        ctx.teardown()
    return results


def render(results: list[DrillResult]) -> str:
    lines = [
        f"{'drill':<13}{'result':<8}{'recovery s':>11}{'acknowledged':>14}{'lost':>6}{'dup':>5}",
    ]
    for r in results:
        lines.append(
            f"{r.name:<13}{'ok' if r.ok else 'FAILED':<8}{r.recovery_s:>11.2f}{r.acknowledged:>14}"
            f"{r.lost if r.lost >= 0 else '?':>6}{r.duplicates:>5}" + (f"  {r.error}" if r.error else "")
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.ops.drill", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("drills", nargs="*", help=f"default: all of {', '.join(DRILLS)}")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    if args.list:
        for name, fn in DRILLS.items():
            print(f"{name:<13}{(fn.__doc__ or '').strip()}")
        return 0
    unknown = [n for n in args.drills if n not in DRILLS]
    if unknown:
        print(f"error: unknown drill(s) {', '.join(unknown)}; known: {', '.join(DRILLS)}", file=sys.stderr)
        return 2
    ctx = Context.from_env()
    results = run(ctx, args.drills or list(DRILLS))
    table = render(results)
    print(table)
    (ctx.work / "report.json").write_text(json.dumps([r.as_dict() for r in results], indent=1))
    return 0 if all(r.ok and r.lost == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
