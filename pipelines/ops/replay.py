"""Replay events back into Kafka: a time range of the lake, or a collector's journal.

    python -m pipelines.ops.replay lake --lake-dir .local/lake --from 2026-11-24T00:00 --to 2026-11-24T06:00 \\
        [--event-type page_view ...] [--skip-existing] [--dry-run]
    python -m pipelines.ops.replay journal --journal-dir /data/collector-journal [--skip-existing] [--dry-run]

Straight into the warehouse instead: ``python -m pipelines.batch backfill --from D1 --to D2`` (the
warehouse reads the lake); Redis: ``python -m pipelines.ops.redis_state rebuild``.

- **lake**: every lake row whose event time is in [from, to) (partitions ``date=/hour=`` prune the
  files), re-encoded from its ``payload`` (the record in the current schema) with the current
  schema versions, produced to its event type's topic with the topic's key (``schemas/topics.yaml``).
- **journal**: the frames after the journal's cursor (what a collector spilled and never
  delivered: e.g. the volume of a pod that died with the broker down), produced as they are, in
  order; the cursor moves only past what Kafka acknowledged, as the collector's own replayer does.

Both deduplicate by event id: within the replay (the lake may hold a row twice across stream
restarts), and with ``--skip-existing`` against what the target topics already hold from an hour
before the range on (what was produced originally and by an earlier replay). Producers are
idempotent with ``acks=all``. Progress goes to stderr as JSON lines; ``--dry-run`` reads,
deduplicates and counts but produces nothing (and leaves the journal's cursor alone). Exit 0 when
every record was acknowledged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines import lake_reader
from pipelines.contracts.topics import TopicSpec, load_topics
from pipelines.kafka_io import read_to_end
from pipelines.lake_reader import LakeLike

Progress = Callable[[dict[str, Any]], None]
HOUR_MS = 3_600_000


@dataclass
class ReplayReport:
    read: int = 0
    duplicates: int = 0  # repeated within the replay
    existing: int = 0  # already in the target topic (--skip-existing)
    produced: Counter[str] = field(default_factory=Counter)  # by topic
    failed: int = 0
    dry_run: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "duplicates": self.duplicates,
            "existing": self.existing,
            "produced": dict(self.produced),
            "produced_total": sum(self.produced.values()),
            "failed": self.failed,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
        }


def parse_time(text: str) -> int:
    """ISO date or date-time (UTC unless an offset is given) → epoch ms."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _hours(from_ms: int, to_ms: int) -> Iterator[tuple[str, str]]:
    t = datetime.fromtimestamp(from_ms // HOUR_MS * 3600, tz=UTC)
    end = datetime.fromtimestamp(to_ms / 1000, tz=UTC)
    while t < end:
        yield t.strftime("%Y-%m-%d"), t.strftime("%H")
        t += timedelta(hours=1)


def lake_events(
    lake_dir: LakeLike, from_ms: int, to_ms: int, event_types: Iterable[str] | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event type, record) of every lake row with event time in [from, to), oldest partition first."""
    lake = lake_reader.as_lake(lake_dir)
    types = sorted(event_types) if event_types else lake_reader.event_types(lake)
    for date, hour in _hours(from_ms, to_ms):
        for event_type in types:
            for rel in sorted(lake_reader.hour_files(lake, event_type, date, hour)):
                rows = lake.read_table(rel, ["event_id", "event_time_ms", "payload"]).to_pylist()
                for row in sorted(rows, key=lambda r: r["event_time_ms"]):
                    if from_ms <= row["event_time_ms"] < to_ms:
                        yield event_type, json.loads(row["payload"])


def existing_event_ids(bootstrap: str, topics: list[str], codec: Any, since_ms: int, extra: dict[str, str]) -> set[str]:
    """Event ids already in ``topics`` from ``since_ms`` (Kafka record time) to the end."""
    ids: set[str] = set()
    for msg in read_to_end(bootstrap, topics, since_ms=since_ms, timeout_s=300, client_config=extra):
        with contextlib.suppress(Exception):  # an undecodable record has no event id to match
            ids.add(str(codec.decode(msg.value() or b"").record.get("event_id")))
    return ids


class Sender:
    """An idempotent acks=all producer that counts what Kafka acknowledged."""

    def __init__(self, bootstrap: str, extra: dict[str, str], report: ReplayReport) -> None:
        from confluent_kafka import Producer

        self.report = report
        self.errors: list[str] = []
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 20,
                "compression.type": "zstd",
                **extra,
            }
        )

    def send(self, topic: str, key: bytes | None, value: bytes, on_ack: Callable[[], None] | None = None) -> None:
        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                self.report.failed += 1
                self.errors.append(str(err))
            else:
                self.report.produced[msg.topic()] += 1
                if on_ack is not None:
                    on_ack()

        while True:
            try:
                self.producer.produce(topic, value, key=key, on_delivery=delivered)
                break
            except BufferError:
                self.producer.poll(0.1)
        self.producer.poll(0)

    def flush(self, timeout_s: float = 60) -> None:
        left = self.producer.flush(timeout_s)
        if left:
            self.report.failed += left
            self.errors.append(f"{left} record(s) not acknowledged within {timeout_s:.0f}s")


def _codec(glue_endpoint: str | None, registry_name: str) -> Any:
    from pipelines.contracts.codec import Codec
    from pipelines.contracts.registry import GlueSchemaRegistry, current_versions, glue_client

    registry = GlueSchemaRegistry(glue_client(glue_endpoint), registry_name)
    return Codec(registry, current_versions(registry.register_all()))


def _key(spec: TopicSpec, record: dict[str, Any]) -> bytes | None:
    value = record.get(spec.key)
    if value is None:
        value = (record.get("context") or {}).get(spec.key)
    return str(value).encode() if value is not None else None


def replay_lake(
    lake_dir: LakeLike,
    from_ms: int,
    to_ms: int,
    bootstrap: str,
    codec: Any,
    *,
    event_types: Iterable[str] | None = None,
    topic_prefix: str = "",
    skip_existing: bool = False,
    dry_run: bool = False,
    kafka_config: dict[str, str] | None = None,
    progress: Progress | None = None,
    every: int = 5000,
) -> ReplayReport:
    t0 = time.monotonic()
    extra = kafka_config or {}
    report = ReplayReport(dry_run=dry_run)
    specs = {s.event_type: s for s in load_topics()}
    topics = {t: f"{topic_prefix}{s.name}" for t, s in specs.items()}
    seen: set[str] = set()
    if skip_existing:
        wanted = [topics[t] for t in (event_types or [t for t in specs if t != "dead_letter"])]
        seen = existing_event_ids(bootstrap, wanted, codec, from_ms - HOUR_MS, extra)
        report.existing = 0
    already = set(seen)
    sender = None if dry_run else Sender(bootstrap, extra, report)
    for event_type, record in lake_events(lake_dir, from_ms, to_ms, event_types):
        report.read += 1
        event_id = str(record.get("event_id"))
        if event_id in seen:
            if event_id in already:
                report.existing += 1
            else:
                report.duplicates += 1
            continue
        seen.add(event_id)
        if sender is not None:
            sender.send(topics[event_type], _key(specs[event_type], record), codec.encode(event_type, record))
        else:
            report.produced[topics[event_type]] += 1
        if progress is not None and report.read % every == 0:
            progress({"event": "replay_progress", **report.as_dict()})
    if sender is not None:
        sender.flush()
    report.seconds = time.monotonic() - t0
    return report


def replay_journal(
    journal_dir: Path,
    bootstrap: str,
    codec: Any,
    *,
    skip_existing: bool = False,
    dry_run: bool = False,
    kafka_config: dict[str, str] | None = None,
    progress: Progress | None = None,
    batch: int = 1000,
) -> ReplayReport:
    """Produce what a collector's journal holds after its cursor; commit only acknowledged prefixes."""
    from pipelines.collector.journal import Journal, Position

    t0 = time.monotonic()
    extra = kafka_config or {}
    report = ReplayReport(dry_run=dry_run)
    journal = Journal(journal_dir, max_bytes=1 << 62)
    try:
        if journal.is_empty():
            report.seconds = time.monotonic() - t0
            return report
        seen: set[str] = set()
        if skip_existing:
            probe = journal.read(max_entries=1 << 30, max_bytes=1 << 40)
            topics = sorted({e.topic for e, _ in probe})
            seen = existing_event_ids(bootstrap, topics, codec, _oldest_ms(probe, codec) - HOUR_MS, extra)
        already = set(seen)
        sender = None if dry_run else Sender(bootstrap, extra, report)
        cursor: Position | None = None
        done = False
        while not done:
            # a dry run leaves the cursor alone, so it reads everything at once
            entries = journal.read(max_entries=1 << 30, max_bytes=1 << 40) if sender is None else journal.read(batch)
            if not entries:
                break
            acked: list[Position] = []
            for entry, pos in entries:
                report.read += 1
                try:
                    event_id = str(codec.decode(entry.value).record.get("event_id"))
                except Exception:  # undecodable: replay it as it is (the stream dead-letters it)
                    event_id = f"frame/{pos.segment}/{pos.offset}"
                if event_id in seen:
                    report.existing += event_id in already
                    report.duplicates += event_id not in already
                    acked.append(pos)
                    continue
                seen.add(event_id)
                if sender is None:
                    report.produced[entry.topic] += 1
                    continue
                sender.send(entry.topic, entry.key, entry.value, on_ack=lambda p=pos, a=acked: a.append(p))
            if sender is None:
                break
            sender.flush()
            if sender.errors:
                done = True
            # commit the longest acknowledged prefix: a failed frame stays in the journal
            ack_set = set(acked)
            for _, pos in entries:
                if pos not in ack_set:
                    break
                cursor = pos
            if cursor is not None:
                journal.commit(cursor)
            if progress is not None:
                progress({"event": "replay_progress", **report.as_dict()})
    finally:
        journal.close()
    report.seconds = time.monotonic() - t0
    return report


def _oldest_ms(entries: list[Any], codec: Any) -> int:
    oldest = int(time.time() * 1000)
    for entry, _ in entries[:1000]:
        try:
            ctx = codec.decode(entry.value).record.get("context") or {}
            oldest = min(oldest, int(ctx.get("collector_received_at") or oldest))
        except Exception:
            continue
    return oldest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.ops.replay", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bootstrap-servers", default=os.environ.get("AA_KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    common.add_argument("--glue-endpoint", default=os.environ.get("AA_GLUE_ENDPOINT"))
    common.add_argument(
        "--registry-name",
        default=os.environ.get("AA_REGISTRY_NAME") or os.environ.get("AA_SCHEMA_REGISTRY", "affiliate-analytics"),
    )
    common.add_argument("--client-config", default=None, help="JSON of extra librdkafka settings (MSK)")
    common.add_argument("--skip-existing", action="store_true", help="skip event ids already in the target topics")
    common.add_argument("--dry-run", action="store_true", help="read, deduplicate and count; produce nothing")
    lake = sub.add_parser("lake", parents=[common], help="replay a time range of the lake")
    lake.add_argument("--lake-dir", required=True, help="a folder or the stream's s3:// / s3a:// lake URI")
    lake.add_argument("--from", dest="from_", required=True, help="ISO date or date-time, UTC (inclusive)")
    lake.add_argument("--to", required=True, help="ISO date or date-time, UTC (exclusive)")
    lake.add_argument("--event-type", action="append", default=None)
    lake.add_argument("--topic-prefix", default="")
    journal = sub.add_parser("journal", parents=[common], help="replay a collector journal's undelivered frames")
    journal.add_argument("--journal-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    from pipelines import kafka_auth

    extra = {**kafka_auth.client_config(), **(json.loads(args.client_config) if args.client_config else {})}

    def progress(doc: dict[str, Any]) -> None:
        print(json.dumps(doc), file=sys.stderr, flush=True)

    codec = _codec(args.glue_endpoint, args.registry_name)
    if args.command == "lake":
        from_ms, to_ms = parse_time(args.from_), parse_time(args.to)
        if to_ms <= from_ms:
            print(f"error: --to {args.to} is not after --from {args.from_}", file=sys.stderr)
            return 2
        known = {s.event_type for s in load_topics()}
        unknown = sorted(set(args.event_type or ()) - known)
        if unknown:
            print(f"error: --event-type {', '.join(unknown)}: allowed {', '.join(sorted(known))}", file=sys.stderr)
            return 2
        report = replay_lake(
            args.lake_dir,
            from_ms,
            to_ms,
            args.bootstrap_servers,
            codec,
            event_types=args.event_type,
            topic_prefix=args.topic_prefix,
            skip_existing=args.skip_existing,
            dry_run=args.dry_run,
            kafka_config=extra,
            progress=progress,
        )
    else:
        if not args.journal_dir.is_dir():
            print(f"error: --journal-dir {args.journal_dir} is not a directory", file=sys.stderr)
            return 2
        report = replay_journal(
            args.journal_dir,
            args.bootstrap_servers,
            codec,
            skip_existing=args.skip_existing,
            dry_run=args.dry_run,
            kafka_config=extra,
            progress=progress,
        )
    print(json.dumps({"event": "replay_done", "source": args.command, **report.as_dict()}))
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
