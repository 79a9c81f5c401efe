"""One pass of the quality monitor (what the ``quality`` CronJob runs, and ``make demo`` at its end).

    python -m pipelines.quality.monitor [--config FILE] [--now EPOCH_S]

1. ledger: read every hop for the receive minutes of the lookback, check the balance, write the
   hours to the durable ledger (Parquet) and the recent minutes to Redis for the dashboard;
2. monitors: ledger, volume, dead letters, freshness, drift, dbt (``monitors.py``);
3. incidents: fold the findings into the incident book, deliver new alerts and resolutions to the
   local sink (always) and SNS (when topics are configured); persist the book;
4. a run record (findings, freshness, ledger summary) appended to ``<state>/runs/<date>.jsonl``.

Where things are comes from the environment (:class:`pipelines.quality.config.Locations`):
``AA_REDIS_URL`` (or ``AA_QUALITY_REDIS_URL``), ``AA_KAFKA_BOOTSTRAP``, ``AA_LAKE_DIR``,
``AA_WAREHOUSE_PATH``, ``AA_BATCH_DIR``, ``AA_QUALITY_STATE_DIR``, ``AA_QUALITY_SINK_FILE``,
``AA_QUALITY_WEBHOOK_URL``, ``AA_QUALITY_SNS_TOPIC_CRITICAL`` / ``_WARNING``, ``AA_AWS_ENDPOINT``.
Exit code: 0 when the pass ran (incidents or not), 1 when an alert could not be delivered (it is
retried next pass), 2 on bad configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from pipelines import lake_reader
from pipelines.lake_reader import LakeLike
from pipelines.logs import JsonLogger
from pipelines.quality import alerts, ledger, monitors, store
from pipelines.quality.config import ConfigError, Locations, QualityConfig, load_config
from pipelines.streaming.lakefs import Lake

_logger = JsonLogger("quality")
log = _logger.log
LIVE_MINUTES = 60


@dataclass
class PassResult:
    now_s: float
    balances: list[ledger.WindowBalance]
    findings: list[monitors.Finding]
    notifications: list[alerts.Notification]
    freshness: dict[str, float | None]
    errors: list[str] = field(default_factory=list)
    open_incidents: list[alerts.Incident] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        status = Counter(b.status for b in self.balances)
        return {
            "windows": len(self.balances),
            "status": dict(status),
            "received": sum(b.received for b in self.balances),
            "written": sum(b.written for b in self.balances),
            "findings": len(self.findings),
            "open_incidents": len(self.open_incidents),
            "sent": [f"{n.kind}:{n.incident.key}" for n in self.notifications],
        }


def ledger_root(loc: Locations) -> store.Root:
    """Where the durable ledger lives (``store``): AA_QUALITY_LEDGER_URI (S3 in the cloud, where the
    pod's own disk is gone after each run), else beside the local lake, else the state dir."""
    uri = os.environ.get("AA_QUALITY_LEDGER_URI")
    if uri:
        return Lake.at(uri)
    if loc.lake_dir is None:
        return loc.state_dir / "ledger"
    lake = lake_reader.as_lake(loc.lake_dir)
    local = lake.local_root
    return local / "_quality" / "ledger" if local is not None else Lake.at(f"{lake.uri.rstrip('/')}/_quality/ledger")


# ---------------------------------------------------------------------- freshness probes


def kafka_newest(
    bootstrap: str, topics: list[str], client_config: dict[str, Any], timeout_s: float = 5.0
) -> float | None:
    """Epoch seconds of the newest record on ``topics`` (reads the last record of every partition)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "quality-monitor", "enable.auto.commit": False, **client_config}
    )
    try:
        md = consumer.list_topics(timeout=10)
        assign = []
        for t in topics:
            for p in md.topics[t].partitions if t in md.topics else []:
                low, high = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)
                if high > low:
                    assign.append(TopicPartition(t, p, high - 1))
        if not assign:
            return None
        consumer.assign(assign)
        newest, seen = 0, set()
        deadline = time.monotonic() + timeout_s
        while len(seen) < len(assign) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            seen.add((msg.topic(), msg.partition()))
            newest = max(newest, msg.timestamp()[1])
        return newest / 1000 if newest else None
    finally:
        consumer.close()


def redis_newest(client: Any, prefix: str) -> float | None:
    """End of the newest receive minute the stream applied (``<p>:lw:<m>``)."""
    minutes = [int(k.decode().rsplit(":", 1)[1]) for k in client.scan_iter(match=f"{prefix}:lw:*", count=1000)]
    return (max(minutes) + 1) * 60 if minutes else None


def lake_newest(lake_dir: LakeLike) -> float | None:
    """Receive time of the newest event in the lake's two newest dates."""
    lake = lake_reader.as_lake(lake_dir)
    newest = lake_reader.table(lake, lake_reader.newest_files(lake), ["received_ms"]).column("received_ms")
    value = pc.call_function("max", [newest]).as_py() if len(newest) else None
    return value / 1000 if value is not None else None


def warehouse_newest(warehouse: Path) -> float | None:
    import duckdb

    if not warehouse.exists():
        return None
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = ledger.staging_tables(con)
        newest = None
        for table in ledger.STAGING_TABLES.values():
            if table in tables:
                row = con.execute(f"select max(epoch_ms(received_at)) from staging.{table}").fetchone()
                if row and row[0] is not None:
                    newest = max(newest or 0, row[0] / 1000)
        return newest
    finally:
        con.close()


def marts_built(batch_dir: Path) -> float | None:
    """When the newest successful batch run finished (its report's start + duration)."""
    reports = sorted((batch_dir / "reports").glob("*.json"), key=lambda p: p.stat().st_mtime)
    for path in reversed(reports):
        doc = json.loads(path.read_text())
        if doc.get("ok") and any(
            s.get("label") in ("build",) or str(s.get("label", "")).startswith("backfill") for s in doc.get("steps", [])
        ):
            started = datetime.fromisoformat(doc["started_at"]).timestamp()
            return started + float(doc.get("seconds") or 0)
    return None


def freshness(cfg: QualityConfig, loc: Locations, client: Any, topics: dict[str, str]) -> dict[str, float | None]:
    from pipelines import kafka_auth

    out: dict[str, float | None] = {}
    if loc.kafka_bootstrap:
        event_topics = [t for t, et in topics.items() if et != ledger.DEAD_LETTER]
        out["kafka"] = kafka_newest(loc.kafka_bootstrap, event_topics, kafka_auth.client_config())
    out["redis"] = redis_newest(client, cfg.redis_prefix)
    lake = lake_reader.present(loc.lake_dir)
    if lake is not None:
        out["lake"] = lake_newest(lake)
    if loc.warehouse_path is not None and loc.warehouse_path.exists():
        out["warehouse"] = warehouse_newest(loc.warehouse_path)
    if loc.batch_dir is not None and (loc.batch_dir / "reports").exists():
        out["marts"] = marts_built(loc.batch_dir)
    return out


# ---------------------------------------------------------------------- the pass


def snowflake_connection(settings: Mapping[str, str]) -> Any:
    """A read-only Snowflake session for the warehouse hop (key-pair auth; the stack's MONITOR_SVC user)."""
    import snowflake.connector

    missing = [k for k in ("account", "user", "private_key_path") if not settings.get(k)]
    if missing:
        raise ConfigError(f"AA_QUALITY_SNOWFLAKE_{missing[0].upper()} is required with AA_QUALITY_SNOWFLAKE_ACCOUNT")
    return snowflake.connector.connect(
        account=settings["account"],
        user=settings["user"],
        private_key_file=settings["private_key_path"],
        role=settings.get("role", "ANALYST"),  # MONITOR_SVC in the stack config
        warehouse=settings.get("warehouse", "BI"),
        session_parameters={"QUERY_TAG": "quality-monitor"},
    )


def sinks_for(loc: Locations) -> list[alerts.Sink]:
    out: list[alerts.Sink] = []
    if loc.sink_file is not None:
        out.append(alerts.LocalSink(loc.sink_file, loc.webhook_url))
    if loc.sns_topics:
        out.append(alerts.SnsSink(loc.sns_topics, alerts.sns_client(loc.aws_endpoint)))
    return out


def run_pass(
    cfg: QualityConfig,
    loc: Locations,
    now_s: float | None = None,
    redis_client: Any = None,
    volume_hour: int | None = None,
) -> PassResult:
    import redis

    from pipelines import kafka_auth

    now_s = time.time() if now_s is None else now_s
    client = redis_client or redis.Redis.from_url(loc.redis_url)
    now_min = int(now_s // 60)
    start = now_min - int(cfg.ledger.lookback_hours * 60)
    led = ledger.collect(
        redis_client=client,
        prefix=cfg.redis_prefix,
        start=start,
        end=now_min + 1,
        kafka_bootstrap=loc.kafka_bootstrap,
        kafka_config=kafka_auth.client_config() if loc.kafka_bootstrap else None,
        lake_dir=loc.lake_dir,
        warehouse=loc.warehouse_path if cfg.ledger.check_warehouse else None,
        topic_prefix=loc.topic_prefix,
        snowflake=snowflake_connection(loc.snowflake) if loc.snowflake and cfg.ledger.check_warehouse else None,
    )
    balances = ledger.balance(
        led,
        now_s,
        cfg.ledger.stream_lag_allowance_minutes,
        cfg.ledger.warehouse_lag_allowance_minutes,
        cfg.ledger.check_warehouse,
    )
    root = ledger_root(loc)
    store.write_balances(root, balances, now_s)

    topics = ledger.topic_event_types(loc.topic_prefix)
    fresh = freshness(cfg, loc, client, topics)
    findings = [
        *monitors.ledger_findings(balances, cfg),
        *monitors.volume_findings(root, volume_hour if volume_hour is not None else now_min // 60 - 1, cfg),
        *monitors.dead_letter_findings(led, now_s, cfg),
        *monitors.freshness_findings(fresh, now_s, cfg),
        *monitors.dbt_findings(loc.batch_dir, cfg),
    ]
    lake = lake_reader.present(loc.lake_dir)
    if lake is not None:
        end_ms = int(now_s * 1000)
        recent_ms = int(cfg.drift.recent_hours * 3_600_000)
        recent = monitors.lake_profile(lake, end_ms - recent_ms, end_ms)
        base = monitors.lake_profile(
            lake, end_ms - recent_ms - int(cfg.drift.baseline_days * 86_400_000), end_ms - recent_ms
        )
        findings += monitors.drift_findings(recent, base, cfg)

    book = alerts.IncidentBook(
        loc.state_dir / "incidents.json",
        client if loc.incidents_in_redis else None,
        f"{cfg.redis_prefix}:quality:incidents",
    )
    notes = book.update(findings, now_s, cfg.alerts.resolve_after_passes)
    errors = alerts.deliver(notes, sinks_for(loc), book, cfg.alerts.source)
    book.save()
    result = PassResult(now_s, balances, findings, notes, fresh, errors, book.active())
    publish(client, cfg.redis_prefix, result)
    record_run(loc.state_dir, result)
    return result


def publish(client: Any, prefix: str, result: PassResult) -> None:
    """The dashboard's view: recent windows with their status, and the open incidents."""
    cutoff = int(result.now_s // 60) - LIVE_MINUTES
    windows = [b.row() for b in result.balances if b.minute >= cutoff]
    doc = {
        "checked_at": datetime.fromtimestamp(result.now_s, tz=UTC).isoformat(timespec="seconds"),
        "summary": result.summary(),
        "windows": windows,
        "incidents": [
            {k: getattr(i, k) for k in ("key", "monitor", "severity", "title", "message", "opened_at", "last_seen_at")}
            for i in result.open_incidents
        ],
    }
    client.set(f"{prefix}:quality:status", json.dumps(doc, default=str), ex=7 * 24 * 3600)


def record_run(state_dir: Path, result: PassResult) -> Path:
    day = datetime.fromtimestamp(result.now_s, tz=UTC).strftime("%Y-%m-%d")
    path = state_dir / "runs" / f"{day}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "at": datetime.fromtimestamp(result.now_s, tz=UTC).isoformat(timespec="seconds"),
        "summary": result.summary(),
        "freshness": {
            k: (None if v is None else datetime.fromtimestamp(v, tz=UTC).isoformat(timespec="seconds"))
            for k, v in result.freshness.items()
        },
        "findings": [f.to_dict() for f in result.findings],
        "errors": result.errors,
    }
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(doc, default=str, sort_keys=True) + "\n")
    return path


def add_location_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that override the environment's locations (``make demo`` keeps everything in its work dir)."""
    for flag, what in (
        ("--state-dir", "AA_QUALITY_STATE_DIR"),
        ("--lake-dir", "AA_LAKE_DIR"),
        ("--warehouse", "AA_WAREHOUSE_PATH"),
        ("--batch-dir", "AA_BATCH_DIR"),
    ):
        kind = str if flag == "--lake-dir" else Path  # the lake may be a URI (s3://bucket/prefix)
        parser.add_argument(flag, type=kind, default=None, help=f"default: {what}")


def locations_from(args: argparse.Namespace) -> Locations:
    loc = Locations.from_env()
    changes: dict[str, Any] = {}
    if args.state_dir is not None:
        changes.update(state_dir=args.state_dir, sink_file=args.state_dir / "alerts.jsonl")
    for name, attr in (("lake_dir", "lake_dir"), ("warehouse", "warehouse_path"), ("batch_dir", "batch_dir")):
        if getattr(args, name) is not None:
            changes[attr] = getattr(args, name)
    return dataclasses.replace(loc, **changes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.quality.monitor", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="rules file (default: AA_QUALITY_CONFIG or the packaged one)"
    )
    parser.add_argument("--now", type=float, default=None, help="evaluate as of this epoch second (replays, tests)")
    add_location_flags(parser)
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    loc = locations_from(args)
    t0 = time.monotonic()
    result = run_pass(cfg, loc, args.now)
    log("quality_pass", seconds=round(time.monotonic() - t0, 2), **result.summary())
    for f in result.findings:
        log("finding", level="warning", key=f.key, severity=f.severity, message=f.message)
    for e in result.errors:
        log("delivery_failed", level="error", error=e)
    print(json.dumps(result.summary(), sort_keys=True))
    return 1 if result.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
