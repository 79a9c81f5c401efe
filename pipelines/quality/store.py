"""Durable ledger: one Parquet file per hour, ``<root>/date=YYYY-MM-DD/hour=HH.parquet``.

``<root>`` is ``AA_QUALITY_LEDGER_URI`` when set (the cloud: ``s3://<lake bucket>/quality/ledger``,
beside the events, read by Snowflake through an external stage), else ``<lake>/_quality/ledger``
(the leading ``_`` keeps event readers away; DuckDB reads it with ``read_parquet``), else
``<state>/ledger``. A root is a folder or any location ``pipelines.streaming.lakefs.Lake`` takes. One row per
(receive minute, event type) with the balance equation's terms, its status, the hop named when it
does not balance, and every raw count as JSON. Each pass rewrites the hours it checked (atomic
replace), so the files are idempotent; hours older than the Redis TTL are never rewritten.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.quality.ledger import WindowBalance
from pipelines.streaming.lakefs import Lake

Root = Path | Lake

SCHEMA = pa.schema(
    [
        ("window_start", pa.timestamp("ms", tz="UTC")),
        ("minute", pa.int64()),
        ("event_type", pa.string()),
        ("received", pa.int64()),
        ("accepted", pa.int64()),
        ("rejected", pa.int64()),
        ("written", pa.int64()),
        ("invalid", pa.int64()),
        ("duplicate", pa.int64()),
        ("late", pa.int64()),
        ("bot", pa.int64()),
        ("in_flight", pa.int64()),
        ("status", pa.string()),
        ("hop", pa.string()),
        ("counts", pa.string()),
        ("checked_at", pa.timestamp("ms", tz="UTC")),
    ]
)
INT_COLUMNS = ("received", "accepted", "rejected", "written", "invalid", "duplicate", "late", "bot", "in_flight")


def _lake(root: Root) -> Lake:
    return root if isinstance(root, Lake) else Lake.at(root)


def hour_file(hour: int) -> str:
    dt = datetime.fromtimestamp(hour * 3600, tz=UTC)
    return f"date={dt:%Y-%m-%d}/hour={dt:%H}.parquet"


def write_rows(root: Root, hour: int, rows: list[dict[str, Any]], checked_at_s: float) -> str:
    """Replace one hour's file with ``rows`` (dicts with the SCHEMA's columns; ``counts`` a mapping);
    atomic (a rename locally, one PUT on S3). Returns where it was written."""
    checked = datetime.fromtimestamp(checked_at_s, tz=UTC)
    table = pa.table(
        {
            "window_start": [datetime.fromtimestamp(r["minute"] * 60, tz=UTC) for r in rows],
            "minute": [r["minute"] for r in rows],
            "event_type": [r["event_type"] for r in rows],
            **{c: [int(r.get(c) or 0) for r in rows] for c in INT_COLUMNS},
            "status": [r.get("status", "balanced") for r in rows],
            "hop": [r.get("hop") for r in rows],
            "counts": [json.dumps(r.get("counts") or {}, sort_keys=True) for r in rows],
            "checked_at": [checked] * len(rows),
        },
        schema=SCHEMA,
    )
    lake = _lake(root)
    lake.write_parquet(hour_file(hour), table)
    return lake.path(hour_file(hour))


def write_balances(root: Root, balances: Iterable[WindowBalance], checked_at_s: float) -> list[str]:
    by_hour: dict[int, list[dict[str, Any]]] = {}
    for b in balances:
        by_hour.setdefault(b.minute // 60, []).append(b.row())
    return [write_rows(root, hour, rows, checked_at_s) for hour, rows in sorted(by_hour.items())]


def read_hour(root: Root, hour: int) -> list[dict[str, Any]]:
    data = _lake(root).read_bytes(hour_file(hour))
    return [] if data is None else pq.read_table(io.BytesIO(data)).to_pylist()


def read_hours(root: Root, first_hour: int, last_hour: int) -> list[dict[str, Any]]:
    """Rows of hours [first_hour, last_hour]."""
    out: list[dict[str, Any]] = []
    for h in range(first_hour, last_hour + 1):
        out.extend(read_hour(root, h))
    return out


def hourly_volume(root: Root, hour: int) -> Counter[str] | None:
    """Received events per event type in one hour; None when that hour was never recorded."""
    data = _lake(root).read_bytes(hour_file(hour))
    if data is None:
        return None
    vol: Counter[str] = Counter()
    for r in pq.read_table(io.BytesIO(data)).to_pylist():
        vol[r["event_type"]] += int(r["received"] or 0)
    return vol
