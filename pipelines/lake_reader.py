"""Read the stream's lake, local folder or S3, the same way: what the quality monitor, the replay
and the Redis rebuild need (the stream writes it through ``pipelines.streaming.lakefs.Lake``).

Layout (``pipelines/streaming/lake.py``)::

    event_type=<t>/date=<YYYY-MM-DD>/hour=<HH>/<stream>-b<batch>-....parquet   events
    _commits/<stream>/batch-<n>.json                                            lake commit markers
    _ledger/<stream>/batch-<n>.json                                             per-batch ledger docs

Listings walk the hive folders one level at a time (one delimited LIST per folder on S3) and prune
by date before they list files, so a day's monitor run never lists the whole lake.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipelines.streaming.lakefs import Entry, Lake

LakeLike = Lake | Path | str


def as_lake(where: LakeLike) -> Lake:
    """A ``Lake`` from a lake, a local folder or a URI (``s3://bucket/prefix``, ``s3a://…``, ``file://…``)."""
    return where if isinstance(where, Lake) else Lake.at(str(where))


def present(where: LakeLike | None) -> Lake | None:
    """The lake, if one is configured and it has anything in it (a fresh environment has none yet)."""
    if where is None:
        return None
    lake = as_lake(where)
    return lake if lake.entries() else None


def _values(entries: Iterable[Entry], key: str) -> list[str]:
    return sorted(e.name.removeprefix(f"{key}=") for e in entries if e.is_dir and e.name.startswith(f"{key}="))


def event_types(lake: Lake) -> list[str]:
    return _values(lake.entries(), "event_type")


def dates(lake: Lake, event_type: str) -> list[str]:
    return _values(lake.entries(f"event_type={event_type}"), "date")


def _ordinal(date: str) -> int | None:
    try:
        return datetime.strptime(date, "%Y-%m-%d").date().toordinal()
    except ValueError:
        return None


def files_of_dates(lake: Lake, event_type: str, wanted: Iterable[str]) -> list[str]:
    out: list[str] = []
    for date in wanted:
        out += [
            e.rel
            for e in lake.entries(f"event_type={event_type}/date={date}", recursive=True)
            if not e.is_dir and e.rel.endswith(".parquet")
        ]
    return sorted(out)


def event_files(lake: Lake, start_ms: int, end_ms: int, slack_days: int = 4) -> list[str]:
    """Parquet files whose event-date partition can hold rows received in [start, end): event time
    is at most the late limit (72 h) before the receive time, so a few days of slack prune the rest."""
    first = datetime.fromtimestamp(start_ms / 1000, tz=UTC).date().toordinal() - slack_days
    last = datetime.fromtimestamp(end_ms / 1000, tz=UTC).date().toordinal() + 1
    out: list[str] = []
    for event_type in event_types(lake):
        wanted = [d for d in dates(lake, event_type) if (o := _ordinal(d)) is not None and first <= o <= last]
        out += files_of_dates(lake, event_type, wanted)
    return sorted(out)


def all_event_files(lake: Lake) -> list[str]:
    return sorted(f for t in event_types(lake) for f in files_of_dates(lake, t, dates(lake, t)))


def newest_files(lake: Lake, days: int = 2) -> list[str]:
    """The files of the newest ``days`` dates that hold events (of any type)."""
    by_type = {t: dates(lake, t) for t in event_types(lake)}
    newest = sorted({d for ds in by_type.values() for d in ds if _ordinal(d) is not None})[-days:]
    return sorted(f for t, ds in by_type.items() for f in files_of_dates(lake, t, [d for d in ds if d in newest]))


def hour_files(lake: Lake, event_type: str, date: str, hour: str) -> list[str]:
    prefix = f"event_type={event_type}/date={date}/hour={hour}"
    return [e.rel for e in lake.entries(prefix) if not e.is_dir and e.rel.endswith(".parquet")]


def event_type_of(rel: str) -> str:
    return rel.split("/", 1)[0].removeprefix("event_type=")


def table(lake: Lake, files: Iterable[str], columns: list[str]) -> pa.Table:
    """``columns`` of every file (null where a file lacks one: older writers), plus ``event_type``
    from each file's partition — what DuckDB's ``read_parquet(union_by_name, hive_partitioning)``
    gives, for a lake anywhere."""
    parts = []
    for rel in files:
        t = lake.read_table(rel, [c for c in columns if c != "event_type"])
        for c in columns:
            if c != "event_type" and c not in t.column_names:
                t = t.append_column(c, pa.nulls(t.num_rows))
        t = t.select([c for c in columns if c != "event_type"])
        parts.append(t.append_column("event_type", pa.array([event_type_of(rel)] * t.num_rows, pa.string())))
    if not parts:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return pa.concat_tables(parts, promote_options="permissive")


def json_docs(lake: Lake, folder: str, modified_since_ms: int | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(lake-relative path, document) of every ``<folder>/<stream>/batch-*.json``, in path order;
    with ``modified_since_ms``, files last written before it are skipped (a batch's ledger is written
    after every row it counts was received, so older files cannot hold later receive minutes)."""
    for e in lake.entries(folder, recursive=True):
        if e.is_dir or not e.name.startswith("batch-") or not e.name.endswith(".json"):
            continue
        if modified_since_ms is not None and e.mtime_ms is not None and e.mtime_ms < modified_since_ms:
            continue
        doc = lake.read_json(e.rel)
        if doc is not None:
            yield e.rel, doc
