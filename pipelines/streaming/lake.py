"""Lake sink: enriched events as Parquet under ``event_type=/date=/hour=``, exactly once per batch.

File names are deterministic per (stream id, batch id, Spark partition, sequence), so re-running a
batch after a crash overwrites its own files instead of adding new ones; a commit file
``_commits/<stream id>/batch-<id>.json`` written after the data marks the batch done, and a replay
of a committed batch writes nothing. An attempt marker ``_attempts/<stream id>/batch-<id>`` written
before the data tells a retry that an earlier attempt may have left files behind, so the lake is
searched for them only then (never on the common path, which matters on S3). The lake is a local
folder or an S3 prefix (``pipelines.streaming.lakefs``). The same task also computes the batch's partial Redis
metrics, so the data is read once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from pipelines.streaming import metrics
from pipelines.streaming.lakefs import Lake

LAKE_COLUMNS = [
    "event_id",
    "event_type",
    "event_time_ms",
    "received_ms",
    "session_id",
    "visitor_id",
    "site_id",
    "page_path",
    "schema_version_id",
    "device_type",
    "browser",
    "os",
    "channel",
    "is_bot",
    "bot_reasons",
    "segments",
    "payload",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "stream_batch_id",
]
RESULT_DDL = "path string, rows bigint, metrics string"


@dataclass(frozen=True)
class WriteParams:
    lake: Lake
    stream_id: str
    batch_id: int
    write_files: bool
    rate_bots: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    segmenter: Any = None  # pipelines.segmentation.engine.Segmenter | None
    fact_paths: tuple[str, ...] = ()  # the record paths the decode put in each row's ``facts``


def batch_prefix(stream_id: str, batch_id: int) -> str:
    return f"{stream_id}-b{batch_id:09d}"


def commit_path(stream_id: str, batch_id: int) -> str:
    return f"_commits/{stream_id}/batch-{batch_id:09d}.json"


def ledger_path(stream_id: str, batch_id: int) -> str:
    return f"_ledger/{stream_id}/batch-{batch_id:09d}.json"


def begin_attempt(lake: Lake, stream_id: str, batch_id: int) -> int:
    """Before writing a batch's files: remove what an earlier, uncommitted attempt left behind (a
    crash mid-write) and mark this attempt. Returns the number of files removed."""
    marker = f"_attempts/{stream_id}/batch-{batch_id:09d}"
    removed = 0
    if lake.exists(marker):
        prefix = f"{batch_prefix(stream_id, batch_id)}-"
        stale = [f for f in lake.files() if f.startswith("event_type=") and f.rsplit("/", 1)[-1].startswith(prefix)]
        lake.delete(stale)
        removed = len(stale)
    lake.write_bytes(marker, b"")
    return removed


def write_partition(batches: Iterator[pa.RecordBatch], params: WriteParams) -> Iterator[pa.RecordBatch]:
    """mapInArrow body over one Spark partition of the batch's valid, deduplicated events."""
    from pyspark import TaskContext

    ctx = TaskContext.get()
    pid = ctx.partitionId() if ctx is not None else 0
    acc = metrics.Accumulator()
    paths: list[str] = []
    counts: list[int] = []
    seq = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        cols = batch.to_pydict()
        n = batch.num_rows
        is_bot: list[bool] = []
        reasons: list[str] = []
        segments: list[list[str]] = []
        for i in range(n):
            r = cols["bot_reasons"][i] or ""
            if (cols["session_id"][i], cols["minute"][i]) in params.rate_bots:
                r = f"{r},rate" if r else "rate"
            reasons.append(r)
            is_bot.append(bool(r))
            row = {k: cols[k][i] for k in cols}
            row["is_bot"] = is_bot[-1]
            segs = params.segmenter.segments_for_row(row) if params.segmenter is not None else []
            segments.append(segs)
            row["segments"] = segs
            acc.add(row)
        cols["is_bot"] = is_bot
        cols["bot_reasons"] = reasons
        cols["segments"] = segments
        cols["stream_batch_id"] = [params.batch_id] * n
        if not params.write_files:
            continue
        seq = _write_groups(cols, n, params, pid, seq, paths, counts)
    yield result_batch(paths, counts, acc.to_json())


def result_batch(paths: list[str], counts: list[int], metrics_json: str | None) -> pa.RecordBatch:
    """A writer task's result rows (``RESULT_DDL``): one per file written, then the task's partial
    metrics in a row of their own when given."""
    tail = [] if metrics_json is None else [None]
    return pa.RecordBatch.from_pydict(
        {
            "path": [*paths, *tail],
            "rows": [*counts, *tail],
            "metrics": [*([None] * len(paths)), *([metrics_json] if tail else [])],
        },
        schema=pa.schema([("path", pa.string()), ("rows", pa.int64()), ("metrics", pa.string())]),
    )


def write_file(
    params: WriteParams,
    pid: int,
    seq: int,
    group: tuple[str, str, str],
    table: pa.Table,
    paths: list[str],
    counts: list[int],
) -> None:
    """One Parquet file of (event type, date, hour) ``group`` under its deterministic name; its path
    and row count appended to ``paths`` / ``counts``."""
    event_type, date, hour = group
    rel = (
        f"event_type={event_type}/date={date}/hour={hour}/"
        f"{batch_prefix(params.stream_id, params.batch_id)}-p{pid:04d}-{seq:05d}.parquet"
    )
    params.lake.write_parquet(rel, table)
    paths.append(params.lake.path(rel))
    counts.append(table.num_rows)


def _write_groups(
    cols: dict[str, list[Any]], n: int, params: WriteParams, pid: int, seq: int, paths: list[str], counts: list[int]
) -> int:
    """One Parquet file per (event type, date, hour) of ``cols``; returns the next sequence number."""
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i in range(n):
        groups[(cols["event_type"][i], cols["date"][i], cols["hour"][i])].append(i)
    for group, idx in sorted(groups.items()):
        table = pa.table({c: [cols[c][i] for i in idx] for c in LAKE_COLUMNS}, schema=lake_schema())
        write_file(params, pid, seq, group, table, paths, counts)
        seq += 1
    return seq


def write_prepared(batches: Iterator[pa.RecordBatch], params: WriteParams) -> Iterator[pa.RecordBatch]:
    """mapInArrow body writing rows that already carry every lake column (the fast path's bot
    flags and segments): the files only, named as by :func:`write_partition`."""
    from pyspark import TaskContext

    ctx = TaskContext.get()
    pid = ctx.partitionId() if ctx is not None else 0
    paths: list[str] = []
    counts: list[int] = []
    seq = 0
    for batch in batches:
        if batch.num_rows:
            seq = _write_groups(batch.to_pydict(), batch.num_rows, params, pid, seq, paths, counts)
    yield result_batch(paths, counts, None)


def lake_schema() -> pa.Schema:
    return pa.schema(
        [
            ("event_id", pa.string()),
            ("event_type", pa.string()),
            ("event_time_ms", pa.int64()),
            ("received_ms", pa.int64()),
            ("session_id", pa.string()),
            ("visitor_id", pa.string()),
            ("site_id", pa.string()),
            ("page_path", pa.string()),
            ("schema_version_id", pa.string()),
            ("device_type", pa.string()),
            ("browser", pa.string()),
            ("os", pa.string()),
            ("channel", pa.string()),
            ("is_bot", pa.bool_()),
            ("bot_reasons", pa.string()),
            ("segments", pa.list_(pa.string())),
            ("payload", pa.string()),
            ("kafka_topic", pa.string()),
            ("kafka_partition", pa.int32()),
            ("kafka_offset", pa.int64()),
            ("stream_batch_id", pa.int64()),
        ]
    )
