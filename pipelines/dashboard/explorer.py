"""The self-service explorer's query layer over ``self_service.explorer_daily`` (dbt mart).

The browser sends names, never SQL: a metric and a dimension from the allow-lists below and a
date range. ``validate`` turns raw query parameters into a ``Query`` or raises ``ParamError``
(answered 400 with the parameter and the reason, before any warehouse call). ``build_sql``
composes SQL from allow-listed fragments only; every value (dimension name, dates, limit) is a
bound parameter. Backends run it on a read-only connection: DuckDB locally (a short-lived
``read_only=True`` connection per query, so dbt can take the write lock between queries),
Snowflake in the cloud with the BI reader role.

Ratios are recomputed from the summed parts (CTR = clicks / page views, EPC = commission /
clicks), never averaged across rows, so any grouping of the mart gives the right answer.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# metric -> (label, SQL over the summed parts, format hint for the browser)
METRICS: dict[str, tuple[str, str, str]] = {
    "page_views": ("Page views", "sum(page_views)", "int"),
    "clicks": ("Affiliate clicks", "sum(clicks)", "int"),
    "ctr": ("Click-through rate", "cast(sum(clicks) as double) / nullif(sum(page_views), 0)", "pct"),
    "conversions": ("Conversions", "sum(conversions)", "int"),
    "revenue": ("Revenue", "cast(sum(revenue) as double)", "money"),
    "epc": ("Earnings per click", "cast(sum(commission) as double) / nullif(sum(clicks), 0)", "money"),
}
# dimension -> label; the mart stores them as rows of (dimension, dimension_value)
DIMENSIONS: dict[str, str] = {
    "page": "Page",
    "campaign": "Campaign",
    "channel": "Channel",
    "device": "Device",
    "country": "Country",
    "merchant": "Merchant",
    "position": "Position",
    "segment": "Segment",
}
# the parts shown beside the chosen metric in the table and the CSV
PARTS = ("page_views", "clicks", "conversions", "revenue", "commission")
PARAMS = frozenset({"metric", "dimension", "from", "to", "limit"})
SERIES_TOP = 5
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ParamError(ValueError):
    """A request parameter outside the allow-list; answered 400 without touching the warehouse."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter
        self.reason = reason


class WarehouseError(RuntimeError):
    """The warehouse could not answer (missing file or table, lock held by a dbt run, network)."""


@dataclass(frozen=True)
class Query:
    metric: str
    dimension: str
    start: dt.date
    end: dt.date  # inclusive
    limit: int


def validate(params: Mapping[str, Sequence[str]], max_days: int, max_rows: int) -> Query:
    """Check raw query-string parameters (each a list of values) against the allow-lists."""
    for name in params:
        if name not in PARAMS:
            raise ParamError(name, f"unknown parameter; allowed: {', '.join(sorted(PARAMS))}")
    values: dict[str, str] = {}
    for name, given in params.items():
        if len(given) != 1:
            raise ParamError(name, "give it exactly once")
        values[name] = given[0]
    metric = values.get("metric", "")
    if metric not in METRICS:
        raise ParamError("metric", f"{metric[:40]!r} is not one of {', '.join(METRICS)}")
    dimension = values.get("dimension", "")
    if dimension not in DIMENSIONS:
        raise ParamError("dimension", f"{dimension[:40]!r} is not one of {', '.join(DIMENSIONS)}")
    start = _date(values, "from")
    end = _date(values, "to")
    if start > end:
        raise ParamError("from", f"{start} is after to={end}")
    days = (end - start).days + 1
    if days > max_days:
        raise ParamError("to", f"the range spans {days} days; at most {max_days}")
    raw_limit = values.get("limit", str(max_rows))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= max_rows:
        raise ParamError("limit", f"{raw_limit[:20]!r} is not an integer from 1 to {max_rows}")
    return Query(metric, dimension, start, end, int(raw_limit))


def _date(values: Mapping[str, str], name: str) -> dt.date:
    raw = values.get(name)
    if raw is None:
        raise ParamError(name, "required (YYYY-MM-DD)")
    if not _DATE.match(raw):
        raise ParamError(name, f"{raw[:40]!r} is not a date like 2025-01-31")
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise ParamError(name, f"{raw!r}: {exc}") from None


def build_sql(q: Query, table: str) -> tuple[str, list[Any]]:
    """Rows by dimension value: the metric, then the parts; best first. Only allow-listed text."""
    metric_sql = METRICS[q.metric][1]
    parts = ", ".join(
        f"cast(sum({p}) as double) as {p}" if p in ("revenue", "commission") else f"sum({p}) as {p}" for p in PARTS
    )
    sql = (
        f"select dimension_value, {metric_sql} as value, {parts} from {table} "
        "where dimension = ? and activity_date between ? and ? "
        "group by dimension_value order by value desc nulls last, dimension_value limit ?"
    )
    return sql, [q.dimension, q.start, q.end, q.limit]


def build_series_sql(q: Query, table: str, values: Sequence[str]) -> tuple[str, list[Any]]:
    """Daily metric for the given dimension values (the chart's lines)."""
    metric_sql = METRICS[q.metric][1]
    marks = ", ".join("?" for _ in values)
    sql = (
        f"select activity_date, dimension_value, {metric_sql} as value from {table} "
        f"where dimension = ? and activity_date between ? and ? and dimension_value in ({marks}) "
        "group by activity_date, dimension_value order by activity_date, dimension_value"
    )
    return sql, [q.dimension, q.start, q.end, *values]


def range_sql(table: str) -> str:
    return f"select min(activity_date), max(activity_date) from {table}"


class Backend(Protocol):
    name: str

    def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...


class DuckDBBackend:
    """A read-only DuckDB connection per query (DuckDB lets one process write or many read)."""

    name = "duckdb"

    def __init__(self, path: Path) -> None:
        self.path = path

    def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        import duckdb

        if not self.path.exists():
            raise WarehouseError(f"{self.path}: no warehouse file; run dbt (make demo) first")
        try:
            with duckdb.connect(str(self.path), read_only=True) as con:
                return con.execute(sql, list(params)).fetchall()
        except duckdb.Error as exc:
            raise WarehouseError(f"{self.path}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc


class SnowflakeBackend:
    """Snowflake with the read-only BI role; one lazily opened connection, queries serialised."""

    name = "snowflake"

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self._con: Any = None
        self._lock = threading.Lock()

    def connect_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "account": self.cfg.account,
            "user": self.cfg.user,
            "role": self.cfg.role,
            "warehouse": self.cfg.warehouse,
            "database": self.cfg.database,
            "paramstyle": "qmark",
            "session_parameters": {"QUERY_TAG": "dashboard-explorer"},
            "client_session_keep_alive": False,
        }
        if self.cfg.private_key_path is not None:
            args["private_key_file"] = str(self.cfg.private_key_path)
        elif self.cfg.password is not None:
            args["password"] = self.cfg.password.get_secret_value()
        return args

    def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        import snowflake.connector

        with self._lock:
            try:
                if self._con is None:
                    self._con = snowflake.connector.connect(**self.connect_args())
                cur = self._con.cursor()
                try:
                    cur.execute(sql, list(params))
                    return [tuple(r) for r in cur.fetchall()]
                finally:
                    cur.close()
            except snowflake.connector.Error as exc:
                self._con = None
                raise WarehouseError(f"snowflake: {type(exc).__name__}: {exc}") from exc


def _num(v: Any) -> float | int | None:
    if v is None:
        return None
    if isinstance(v, int):
        return v
    return float(v)


def explore(backend: Backend, table: str, q: Query) -> dict[str, Any]:
    """Run the query (rows, then the daily series of the top values) and shape the answer."""
    sql, params = build_sql(q, table)
    rows = [
        {"value": str(r[0]), "metric": _num(r[1]), **{p: _num(v) for p, v in zip(PARTS, r[2:], strict=True)}}
        for r in backend.fetch(sql, params)
    ]
    top = [r["value"] for r in rows[:SERIES_TOP]]
    series: dict[str, dict[str, float | int | None]] = {v: {} for v in top}
    days = [(q.start + dt.timedelta(days=i)).isoformat() for i in range((q.end - q.start).days + 1)]
    if top:
        ssql, sparams = build_series_sql(q, table, top)
        for day, value, metric in backend.fetch(ssql, sparams):
            series[str(value)][_iso(day)] = _num(metric)
    label, _, fmt = METRICS[q.metric]
    return {
        "metric": q.metric,
        "metric_label": label,
        "format": fmt,
        "dimension": q.dimension,
        "dimension_label": DIMENSIONS[q.dimension],
        "from": q.start.isoformat(),
        "to": q.end.isoformat(),
        "rows": rows,
        "days": days,
        "series": [{"value": v, "points": [series[v].get(d) for d in days]} for v in top],
    }


def _iso(day: Any) -> str:
    return day.isoformat() if isinstance(day, dt.date) else str(day)[:10]


def options(backend: Backend, table: str) -> dict[str, Any]:
    """What the explorer's form offers: the allow-lists and the dates the mart covers."""
    lo, hi = backend.fetch(range_sql(table), [])[0]
    return {
        "metrics": [{"name": k, "label": v[0], "format": v[2]} for k, v in METRICS.items()],
        "dimensions": [{"name": k, "label": v} for k, v in DIMENSIONS.items()],
        "min_date": _iso(lo) if lo is not None else None,
        "max_date": _iso(hi) if hi is not None else None,
    }


def to_csv(result: Mapping[str, Any]) -> str:
    """The table as CSV (RFC 4180 quoting), metric column named after the metric."""
    import csv
    import io

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([result["dimension"], result["metric"], *PARTS])
    for r in result["rows"]:
        w.writerow([_csv_safe(r["value"]), *("" if r[k] is None else r[k] for k in ("metric", *PARTS))])
    return out.getvalue()


def _csv_safe(text: str) -> str:
    """Neutralise spreadsheet formulas in free-text values (page paths, campaigns)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
