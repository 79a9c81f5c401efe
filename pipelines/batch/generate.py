"""Lake-shaped Parquet from ``pipelines.contracts.samples``: tests, benchmarks and the demo.

Writes ``<lake>/event_type=<t>/date=YYYY-MM-DD/hour=HH/*.parquet`` with the streaming job's lake
columns (``LAKE_COLUMNS``; a test asserts they equal ``pipelines.streaming.lake.LAKE_COLUMNS``).
Deterministic for a seed, with what the warehouse must survive: duplicates (the same event_id on
another Kafka offset), late events (received hours after they happened), bot sessions (flagged,
not dropped) and returning visitors (several sessions per visitor, so attribution paths have more
than one touch; some returns reuse the old client session id).

    python -m pipelines.batch.generate --lake-dir .local/lake --sessions 20000

Any size fits in memory: ``generate_lake`` writes in chunks of ~200k rows and prints progress.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.contracts import samples
from pipelines.streaming.lake import lake_schema

# The stream writes the lake; the generator writes rows of exactly the same schema.
LAKE_SCHEMA = lake_schema()
LAKE_COLUMNS: list[str] = LAKE_SCHEMA.names

RETURN_WINDOW = 2_000  # returning visitors are drawn from the last this many visitors
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@dataclass(frozen=True)
class GenerateOptions:
    sessions: int
    seed: int = 7
    start_ms: int = 1_795_000_000_000
    session_gap_ms: tuple[int, int] = (1_000, 5_000)
    duplicate_rate: float = 0.01
    late_rate: float = 0.01
    late_delay_ms: int = 2 * 3_600_000
    bot_rate: float = 0.03
    return_rate: float = 0.3
    reuse_session_id_rate: float = 0.2
    click_rate: float = 0.35


def event_time_ms(event_type: str, record: dict[str, Any]) -> int:
    """Same rule as the stream: device time corrected by the collector's clock."""
    if event_type == "conversion":
        return int(record["occurred_at"])
    ctx = record["context"]
    return int(ctx["device_created_at"]) + int(ctx["collector_received_at"]) - int(ctx["device_sent_at"])


def channel_of(record: dict[str, Any]) -> str:
    """A small stand-in for the stream's channel classifier, enough for the sample campaigns."""
    ctx = record.get("context")
    if ctx is None:
        return "postback"
    utm = ctx.get("utm") or {}
    medium, source = (utm.get("medium") or "").lower(), (utm.get("source") or "").lower()
    if medium in ("cpc", "ppc", "paid_search"):
        return "paid_search"
    if medium in ("email", "newsletter") or source in ("newsletter", "email"):
        return "email"
    if medium or source:
        return "other_campaign"
    referrer = ctx.get("referrer") or ""
    if not referrer:
        return "direct"
    return "organic_search" if any(s in referrer for s in ("google.", "bing.")) else "referral"


def segments_of(event_type: str, record: dict[str, Any], channel: str) -> list[str]:
    """Event-scope segments as ``pipelines/segmentation/rules.yaml`` would assign them."""
    out: list[str] = []
    ctx = record.get("context") or {}
    campaign = ((ctx.get("utm") or {}).get("campaign")) or ""
    if (
        channel == "email"
        or "deal" in campaign
        or (event_type == "chart_interaction" and record.get("field") == "price")
    ):
        out.append("deal_seeker")
    if int(ctx.get("session_index") or 0) >= 2:
        out.append("returning_visitor")
    if event_type == "affiliate_click" and int(record.get("position") or 99) <= 3:
        out.append("high_intent")
    return out


def lake_row(
    event_type: str,
    record: dict[str, Any],
    *,
    offset: int,
    batch_id: int = 0,
    bot_reasons: str = "",
    received_delay_ms: int = 0,
) -> dict[str, Any]:
    """One lake row for a contract record, as the stream would write it."""
    ctx = record.get("context") or {}
    received = int((ctx or record)["collector_received_at"]) + received_delay_ms
    device = ctx.get("device_class") if ctx else None
    channel = channel_of(record)
    return {
        "event_id": record["event_id"],
        "event_type": event_type,
        "event_time_ms": event_time_ms(event_type, record),
        "received_ms": received,
        "session_id": ctx.get("session_id"),
        "visitor_id": ctx.get("visitor_id"),
        "site_id": ctx.get("site_id"),
        "page_path": ctx.get("page_path"),
        "schema_version_id": "00000000-0000-0000-0000-000000000001",
        "device_type": "bot" if bot_reasons else device,
        "browser": ("Googlebot" if bot_reasons else "Chrome") if ctx else None,
        "os": ("Other" if bot_reasons else "Windows") if ctx else None,
        "channel": channel,
        "is_bot": bool(bot_reasons),
        "bot_reasons": bot_reasons,
        "segments": segments_of(event_type, record, channel),
        "payload": json.dumps(record, separators=(",", ":")),
        "kafka_topic": f"events.{event_type}",
        "kafka_partition": offset % 3,
        "kafka_offset": offset,
        "stream_batch_id": batch_id,
    }


def iter_sessions(options: GenerateOptions) -> Iterator[list[dict[str, Any]]]:
    """Lake rows session by session (duplicates, late events and bots included), in bounded memory:
    only the last 2,000 visitors are kept for returning visits."""
    rng = random.Random(options.seed)
    recent: deque[tuple[str, str]] = deque(maxlen=RETURN_WINDOW)  # (visitor_id, last client session id)
    t = options.start_ms
    offset = 0
    for seen in range(options.sessions):  # seen: visitors so far; recent holds the last RETURN_WINDOW
        t += rng.randint(*options.session_gap_ms)
        events = list(samples.session_events(rng, t, click_rate=options.click_rate))
        returning = seen and rng.random() < options.return_rate
        if returning:
            pick = rng.randrange(max(0, seen - RETURN_WINDOW), seen)
            visitor_id, old_session = recent[pick - (seen - len(recent))]
            reuse = rng.random() < options.reuse_session_id_rate
            for s in events:
                ctx = s.record.get("context")
                if ctx is not None:
                    ctx["visitor_id"] = visitor_id
                    ctx["session_index"] = 2
                    if reuse:
                        ctx["session_id"] = old_session
        first_ctx = events[0].record["context"]
        recent.append((first_ctx["visitor_id"], first_ctx["session_id"]))
        bot = "ua" if rng.random() < options.bot_rate else ""
        rows: list[dict[str, Any]] = []
        for s in events:
            if bot and "context" in s.record:
                s.record["context"]["user_agent"] = BOT_UA
            late = options.late_delay_ms if rng.random() < options.late_rate else 0
            offset += 1
            row = lake_row(
                s.event_type,
                s.record,
                offset=offset,
                bot_reasons=bot if "context" in s.record else "",
                received_delay_ms=late,
            )
            rows.append(row)
            if rng.random() < options.duplicate_rate:
                offset += 1
                rows.append({**row, "kafka_offset": offset, "received_ms": row["received_ms"] + 5_000})
        yield rows


def generate_rows(options: GenerateOptions) -> list[dict[str, Any]]:
    """Lake rows for ``options.sessions`` sessions, with duplicates, late events and bots (in memory)."""
    return [row for rows in iter_sessions(options) for row in rows]


@dataclass(frozen=True)
class GenerateResult:
    rows: int
    files: list[Path]
    newest_event_ms: int


def generate_lake(
    options: GenerateOptions,
    lake_dir: Path,
    *,
    batch_id: int = 0,
    prefix: str = "gen",
    chunk_rows: int = 200_000,
    progress: Callable[[str], None] | None = None,
    workers: int = 1,
) -> GenerateResult:
    """Generate and write in chunks of about ``chunk_rows`` rows (memory stays bounded at any
    size): each chunk is written as files ``<prefix>-b<batch>-c<chunk>.parquet`` per partition.

    ``workers`` > 1 splits the sessions into that many shards generated by parallel processes:
    shard k has its own seed and the k-th consecutive time range (returning visitors come from
    the same shard), so the lake is deterministic for (options, workers) but not equal to the
    single-process one."""
    if workers > 1:
        return _generate_sharded(options, lake_dir, batch_id, prefix, chunk_rows, progress, workers)
    buffer: list[dict[str, Any]] = []
    files: list[Path] = []
    total, newest, chunk = 0, 0, 0
    started = time.monotonic()

    def flush(sessions_done: int) -> None:
        nonlocal chunk, buffer
        files.extend(write_lake(buffer, lake_dir, batch_id=batch_id, prefix=f"{prefix}-c{chunk:05d}"))
        chunk += 1
        buffer = []
        if progress is not None:
            done = options.sessions and sessions_done / options.sessions
            progress(
                f"generate: {total:,} rows, {sessions_done:,}/{options.sessions:,} sessions ({done:.0%}), "
                f"{len(files):,} files, {time.monotonic() - started:.0f}s"
            )

    sessions_done = 0
    for sessions_done, rows in enumerate(iter_sessions(options), start=1):
        buffer.extend(rows)
        total += len(rows)
        newest = max(newest, max(r["event_time_ms"] for r in rows))
        if len(buffer) >= chunk_rows:
            flush(sessions_done)
    if buffer:
        flush(sessions_done)
    return GenerateResult(total, files, newest)


def _shard(args: tuple[GenerateOptions, Path, int, str, int, bool]) -> GenerateResult:
    options, lake_dir, batch_id, prefix, chunk_rows, report = args

    def progress(line: str) -> None:
        print(f"[{prefix}] {line}", file=sys.stderr, flush=True)

    return generate_lake(
        options,
        lake_dir,
        batch_id=batch_id,
        prefix=prefix,
        chunk_rows=chunk_rows,
        progress=progress if report else None,
    )


def _generate_sharded(
    options: GenerateOptions,
    lake_dir: Path,
    batch_id: int,
    prefix: str,
    chunk_rows: int,
    progress: Callable[[str], None] | None,
    workers: int,
) -> GenerateResult:
    from concurrent.futures import ProcessPoolExecutor
    from dataclasses import replace

    per_shard = -(-options.sessions // workers)
    mean_gap = sum(options.session_gap_ms) // 2
    jobs = []
    for k in range(workers):
        n = min(per_shard, options.sessions - k * per_shard)
        if n <= 0:
            break
        shard = replace(
            options, sessions=n, seed=options.seed * 1009 + k, start_ms=options.start_ms + k * per_shard * mean_gap
        )
        jobs.append((shard, lake_dir, batch_id, f"{prefix}-s{k:02d}", chunk_rows, progress is not None))
    with ProcessPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(_shard, jobs))
    return GenerateResult(
        sum(r.rows for r in results), [f for r in results for f in r.files], max(r.newest_event_ms for r in results)
    )


def partition_of(event_time_ms: int) -> tuple[str, str]:
    dt = datetime.fromtimestamp(event_time_ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%d"), dt.strftime("%H")


def write_lake(rows: Iterable[dict[str, Any]], lake_dir: Path, *, batch_id: int = 0, prefix: str = "gen") -> list[Path]:
    """Write rows under ``event_type=/date=/hour=``; one file per partition per batch (overwritten
    when the same batch id is written again, like the stream's replay)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        date, hour = partition_of(row["event_time_ms"])
        groups[(row["event_type"], date, hour)].append(row)
    written: list[Path] = []
    for (event_type, date, hour), group in sorted(groups.items()):
        d = lake_dir / f"event_type={event_type}" / f"date={date}" / f"hour={hour}"
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{prefix}-b{batch_id:09d}.parquet"
        table = pa.Table.from_pylist([{**r, "stream_batch_id": batch_id} for r in group], schema=LAKE_SCHEMA)
        pq.write_table(table, path, compression="zstd")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.batch.generate", description="Write lake-shaped Parquet from generated sample events."
    )
    parser.add_argument("--lake-dir", type=Path, required=True)
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start-ms", type=int, default=1_795_000_000_000)
    parser.add_argument("--batch-id", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="parallel shards (own seed and time range each)")
    args = parser.parse_args(argv)
    result = generate_lake(
        GenerateOptions(sessions=args.sessions, seed=args.seed, start_ms=args.start_ms),
        args.lake_dir,
        batch_id=args.batch_id,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
        workers=args.workers,
    )
    print(json.dumps({"lake_dir": str(args.lake_dir), "rows": result.rows, "files": len(result.files)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
