"""Rebuild the stream's real-time state in Redis from the lake after a Redis loss.

    python -m pipelines.ops.redis_state rebuild --lake-dir .local/lake --redis-url redis://127.0.0.1:16379/0 \\
        [--prefix aa] [--ttl-seconds 172800] [--session-state] [--dry-run] [--force]
    python -m pipelines.ops.redis_state snapshot --redis-url ... [--prefix aa] > before.json
    python -m pipelines.ops.redis_state compare before.json after.json

What the stream wrote to Redis is a function of what it wrote to the lake, so the lake rebuilds it
(docs/STREAMING.md, "Redis key layout"):

- minute metrics (``<p>:m:<m>:*``: events, page views, impressions, clicks, conversions, segments,
  bots, HLLs of sessions) from every lake row of an *applied* batch — one whose ledger file
  ``_ledger/<stream>/batch-<id>.json`` exists, i.e. the stream finished its Redis step. Rows go
  through the stream's own :class:`pipelines.streaming.metrics.Accumulator` and
  :func:`~pipelines.streaming.metrics.apply_batch`, so the counters are computed by the same code.
  Rows older than the TTL are skipped (their keys would have expired).
- ledger counts (``<p>:ledger:total``, ``<p>:ledger:<minute>``) and the receive-window counts
  (``<p>:lw:*``, ``<p>:lk:*``) from the ledger files;
- the batch markers (``<p>:batch:<stream>:<batch>``, ``<p>:dlq:<stream>:<batch>``) from the ledger
  files too: a batch the stream replays after the rebuild is then not applied twice, and a batch
  that was committed to the lake but never reached Redis (no ledger file) is left to the stream's
  own replay, so it is not counted twice either.
- session state (``<p>:sess:<session>``) with ``--session-state`` (only when the stream runs
  session-scope segmentation rules, which is when it keeps that state).

The rebuild refuses a prefix that already has keys (``--force`` deletes them first). Every
rebuilt key gets the full TTL from now; HyperLogLogs are rebuilt from the same members, so their
counts are equal to the lost ones.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines import lake_reader
from pipelines.lake_reader import LakeLike
from pipelines.streaming import metrics

FILE_NAME = re.compile(r"^(?P<sid>[0-9a-f]+)-b(?P<batch>\d{9})-")
LEDGER_META = ("stream_id", "batch_id", "processed_at", "windows")
SESSION_KINDS = {
    "page_view": "page_views",
    "product_impression": "impressions",
    "chart_interaction": "chart_interactions",
    "affiliate_click": "clicks",
    "conversion": "conversions",
}
APPLY_CHUNK = 5000  # keys per MULTI/EXEC


@dataclass
class Ledger:
    """One ``_ledger/<stream>/batch-<id>.json`` file."""

    stream_id: str
    batch_id: int
    processed_ms: int
    counts: dict[str, int]
    windows: dict[str, dict[str, int]]

    @property
    def dead_letters(self) -> int:
        return sum(n for k, n in self.counts.items() if k.startswith("invalid:")) + self.counts.get("late", 0)


@dataclass
class RebuildReport:
    rows: int = 0
    rows_expired: int = 0
    rows_pending: int = 0  # rows of batches committed to the lake but never applied to Redis
    batches: int = 0
    pending_batches: list[str] = field(default_factory=list)
    keys: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "rows_expired": self.rows_expired,
            "rows_pending": self.rows_pending,
            "batches": self.batches,
            "pending_batches": self.pending_batches,
            "keys": self.keys,
            "seconds": round(self.seconds, 3),
            "dry_run": self.dry_run,
        }


def read_ledgers(lake_dir: LakeLike) -> dict[tuple[str, int], Ledger]:
    out: dict[tuple[str, int], Ledger] = {}
    for _, doc in lake_reader.json_docs(lake_reader.as_lake(lake_dir), "_ledger"):
        counts = {k: int(v) for k, v in doc.items() if k not in LEDGER_META}
        processed = datetime.fromisoformat(doc["processed_at"]).timestamp()
        windows = {k: {f: int(n) for f, n in v.items()} for k, v in (doc.get("windows") or {}).items()}
        ledger = Ledger(str(doc["stream_id"]), int(doc["batch_id"]), int(processed * 1000), counts, windows)
        out[(ledger.stream_id, ledger.batch_id)] = ledger
    return out


def committed_batches(lake_dir: LakeLike) -> set[tuple[str, int]]:
    found = set()
    for e in lake_reader.as_lake(lake_dir).entries("_commits", recursive=True):
        parts = e.rel.split("/")
        if not e.is_dir and len(parts) == 3 and parts[2].startswith("batch-") and parts[2].endswith(".json"):
            found.add((parts[1], int(parts[2].removeprefix("batch-").removesuffix(".json"))))
    return found


def lake_rows(lake_dir: LakeLike) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, row) for every lake row, with the columns the stream's accumulator reads."""
    columns = [
        "event_id",
        "event_type",
        "event_time_ms",
        "received_ms",
        "session_id",
        "site_id",
        "page_path",
        "is_bot",
        "segments",
        "payload",
        "kafka_topic",
    ]
    lake = lake_reader.as_lake(lake_dir)
    for rel in lake_reader.all_event_files(lake):
        for row in lake.read_table(rel, columns).to_pylist():
            yield rel.rsplit("/", 1)[-1], row


def accumulator_row(row: dict[str, Any]) -> dict[str, Any]:
    """A lake row in the shape ``Accumulator.add`` takes (the stream's decode output)."""
    payload = json.loads(row["payload"]) if row.get("payload") else {}
    return {
        **row,
        "minute": int(row["event_time_ms"]) // 60_000,
        "link_id": payload.get("link_id"),
        "merchant": payload.get("merchant"),
        "position": payload.get("position"),
    }


def build_state(
    lake_dir: LakeLike, ttl_s: int, now_ms: int, session_state: bool
) -> tuple[metrics.Accumulator, dict[tuple[str, int], Ledger], RebuildReport]:
    report = RebuildReport()
    ledgers = read_ledgers(lake_dir)
    pending = committed_batches(lake_dir) - set(ledgers)
    report.pending_batches = sorted(f"{s}:{b}" for s, b in pending)
    report.batches = len(ledgers)
    acc = metrics.Accumulator()
    oldest_minute = (now_ms // 1000 - ttl_s) // 60
    sessions: dict[str, Counter[str]] = defaultdict(Counter)
    for name, row in lake_rows(lake_dir):
        m = FILE_NAME.match(name)
        if m is not None and (m["sid"], int(m["batch"])) not in ledgers:
            report.rows_pending += 1
            continue
        if session_state and row.get("session_id"):
            counters = sessions[row["session_id"]]
            counters["events"] += 1
            if row["event_type"] in SESSION_KINDS:
                counters[SESSION_KINDS[row["event_type"]]] += 1
        if int(row["event_time_ms"]) // 60_000 < oldest_minute:
            report.rows_expired += 1
            continue
        acc.add(accumulator_row(row))
        report.rows += 1
    # receive-window counts come from the ledger files (they also hold the pre-dedup stages)
    for key in [k for k in acc.counters if k.startswith(("lw:", "lk:"))]:
        del acc.counters[key]
    for ledger in ledgers.values():
        for key, fields in ledger.windows.items():
            for f, n in fields.items():
                acc.counters[key][f] += n
    for sid, counters in sessions.items():
        for k, n in counters.items():
            acc.counters[f"sess:{sid}"][k] += n
    return acc, ledgers, report


def _chunks(acc: metrics.Accumulator, size: int) -> Iterator[metrics.Accumulator]:
    keys = [("c", k) for k in acc.counters] + [("h", k) for k in acc.hll]
    for i in range(0, len(keys), size):
        part = metrics.Accumulator()
        for kind, key in keys[i : i + size]:
            if kind == "c":
                part.counters[key] = acc.counters[key]
            else:
                part.hll[key] = acc.hll[key]
        yield part


def rebuild(
    client: Any,
    lake_dir: LakeLike,
    prefix: str = "aa",
    ttl_s: int = 48 * 3600,
    session_state: bool = False,
    dry_run: bool = False,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> RebuildReport:
    t0 = time.monotonic()
    now_ms = int(time.time() * 1000)
    existing = next(iter(client.scan_iter(f"{prefix}:*", count=100)), None)
    if existing is not None and not force and not dry_run:
        raise RuntimeError(
            f"redis prefix {prefix!r} already has keys (e.g. {existing!r}); rebuild only into an empty prefix "
            "after a Redis loss, or pass --force to delete the prefix's keys first"
        )
    acc, ledgers, report = build_state(lake_dir, ttl_s, now_ms, session_state)
    report.keys = len(acc.counters) + len(acc.hll) + 2 * len(ledgers) + 1
    report.dry_run = dry_run
    if dry_run:
        report.seconds = time.monotonic() - t0
        return report
    if existing is not None:
        for key in client.scan_iter(f"{prefix}:*", count=1000):
            client.delete(key)
    parts = list(_chunks(acc, APPLY_CHUNK))
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    for i, part in enumerate(parts):
        metrics.apply_batch(client, prefix, f"rebuild:{stamp}:{i}", part, {}, now_ms // 60_000, ttl_s)
        if progress is not None:
            progress("metrics", i + 1, len(parts))
    pipe = client.pipeline(transaction=False)
    oldest_minute = (now_ms // 1000 - ttl_s) // 60
    for n, ledger in enumerate(ledgers.values(), 1):
        minute = ledger.processed_ms // 60_000
        for f, v in ledger.counts.items():
            if v:
                pipe.hincrby(f"{prefix}:ledger:total", f, v)
                if minute >= oldest_minute:
                    pipe.hincrby(f"{prefix}:ledger:{minute}", f, v)
        if minute >= oldest_minute:
            pipe.expire(f"{prefix}:ledger:{minute}", ttl_s)
        pipe.set(
            f"{prefix}:batch:{ledger.stream_id}:{ledger.batch_id}", json.dumps(ledger.counts), ex=metrics.MARKER_TTL_S
        )
        if ledger.dead_letters:
            pipe.set(f"{prefix}:dlq:{ledger.stream_id}:{ledger.batch_id}", ledger.dead_letters, ex=metrics.MARKER_TTL_S)
        if n % 1000 == 0:
            pipe.execute()
            if progress is not None:
                progress("ledgers", n, len(ledgers))
    pipe.execute()
    report.seconds = time.monotonic() - t0
    return report


# ---------------------------------------------------------------- snapshots (what the drills compare)


def snapshot(client: Any, prefix: str = "aa", ignore: tuple[str, ...] = ("rebuild:",)) -> dict[str, Any]:
    """Every key under the prefix as comparable values: hashes as dicts, HLLs as their count,
    strings parsed as JSON when they are JSON. Per-minute ledger keys are summed (their minute is
    processing time, which a rebuild can only know to the ledger file's write time)."""
    out: dict[str, Any] = {}
    minute_ledger: Counter[str] = Counter()
    for raw in client.scan_iter(f"{prefix}:*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        rest = key[len(prefix) + 1 :]
        if rest.startswith(ignore):
            continue
        kind = client.type(raw)
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if kind == "hash":
            value = {_s(k): int(v) for k, v in client.hgetall(raw).items()}
            if re.fullmatch(r"ledger:\d+", rest):
                minute_ledger.update(value)
                continue
            out[rest] = value
        elif kind == "string":
            text = _s(client.get(raw))
            if text.startswith("HYLL"):
                out[rest] = {"hll": int(client.pfcount(raw))}
            else:
                try:
                    out[rest] = json.loads(text)
                except json.JSONDecodeError:
                    out[rest] = text
        else:
            out[rest] = f"<{kind}>"
    out["ledger:<minutes>"] = dict(minute_ledger)
    return out


def _s(v: Any) -> str:
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


def diff(before: dict[str, Any], after: dict[str, Any], limit: int = 20) -> list[str]:
    problems = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            problems.append(f"{key}: before {before.get(key)!r}, after {after.get(key)!r}")
    return problems[:limit] + ([f"... {len(problems) - limit} more"] if len(problems) > limit else [])


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(
        prog="python -m pipelines.ops.redis_state",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    default_url = os.environ.get("AA_REDIS_URL", "redis://127.0.0.1:16379/0")
    rb = sub.add_parser("rebuild", help="rebuild the real-time state from the lake")
    rb.add_argument("--lake-dir", required=True, help="a folder or the stream's s3:// / s3a:// lake URI")
    rb.add_argument("--redis-url", default=default_url)
    rb.add_argument("--prefix", default="aa")
    rb.add_argument("--ttl-seconds", type=int, default=48 * 3600)
    rb.add_argument("--session-state", action="store_true", help="also rebuild <p>:sess:* (session-scope rules)")
    rb.add_argument("--dry-run", action="store_true", help="count what would be written; write nothing")
    rb.add_argument("--force", action="store_true", help="delete the prefix's keys first")
    sn = sub.add_parser("snapshot", help="print the prefix's keys as comparable JSON")
    sn.add_argument("--redis-url", default=default_url)
    sn.add_argument("--prefix", default="aa")
    cp = sub.add_parser("compare", help="compare two snapshots; exit 1 if they differ")
    cp.add_argument("before", type=Path)
    cp.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "compare":
        problems = diff(json.loads(args.before.read_text()), json.loads(args.after.read_text()))
        for p in problems:
            print(p, file=sys.stderr)
        print(json.dumps({"event": "redis_compare", "equal": not problems}))
        return 1 if problems else 0
    import redis

    client = redis.Redis.from_url(args.redis_url)
    if args.command == "snapshot":
        json.dump(snapshot(client, args.prefix), sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    if lake_reader.present(args.lake_dir) is None:
        print(f"error: --lake-dir {args.lake_dir} holds no lake (no such folder or prefix, or empty)", file=sys.stderr)
        return 2

    def progress(stage: str, done: int, total: int) -> None:
        print(
            json.dumps({"event": "redis_rebuild_progress", "stage": stage, "done": done, "total": total}),
            file=sys.stderr,
        )

    try:
        report = rebuild(
            client, args.lake_dir, args.prefix, args.ttl_seconds, args.session_state, args.dry_run, args.force, progress
        )
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"event": "redis_rebuilt", **report.as_dict()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
