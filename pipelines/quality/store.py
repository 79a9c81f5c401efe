"""Durable ledger: one Parquet file per hour, ``<root>/date=YYYY-MM-DD/hour=HH.parquet``.

``<root>`` is ``<lake>/_quality/ledger`` (the leading ``_`` keeps event readers away; DuckDB and
Snowflake read it with ``read_parquet`` / an external stage), else ``<state>/ledger``. One row per
(receive minute, event type) with the balance equation's terms, its status, the hop named when it
does not balance, and every raw count as JSON. Each pass rewrites the hours it checked (atomic
replace), so the files are idempotent; hours older than the Redis TTL are never rewritten.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.quality.ledger import WindowBalance

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


def hour_path(root: Path, hour: int) -> Path:
    dt = datetime.fromtimestamp(hour * 3600, tz=UTC)
    return root / f"date={dt:%Y-%m-%d}" / f"hour={dt:%H}.parquet"


def write_rows(root: Path, hour: int, rows: list[dict[str, Any]], checked_at_s: float) -> Path:
    """Replace one hour's file with ``rows`` (dicts with the SCHEMA's columns; ``counts`` a mapping)."""
    path = hour_path(root, hour)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    return path


def write_balances(root: Path, balances: Iterable[WindowBalance], checked_at_s: float) -> list[Path]:
    by_hour: dict[int, list[dict[str, Any]]] = {}
    for b in balances:
        by_hour.setdefault(b.minute // 60, []).append(b.row())
    return [write_rows(root, hour, rows, checked_at_s) for hour, rows in sorted(by_hour.items())]


def read_hour(root: Path, hour: int) -> list[dict[str, Any]]:
    path = hour_path(root, hour)
    if not path.exists():
        return []
    return pq.read_table(path).to_pylist()


def read_hours(root: Path, first_hour: int, last_hour: int) -> list[dict[str, Any]]:
    """Rows of hours [first_hour, last_hour]."""
    out: list[dict[str, Any]] = []
    for h in range(first_hour, last_hour + 1):
        out.extend(read_hour(root, h))
    return out


def hourly_volume(root: Path, hour: int) -> Counter[str] | None:
    """Received events per event type in one hour; None when that hour was never recorded."""
    path = hour_path(root, hour)
    if not path.exists():
        return None
    vol: Counter[str] = Counter()
    for r in read_hour(root, hour):
        vol[r["event_type"]] += int(r["received"] or 0)
    return vol
