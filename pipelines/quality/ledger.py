"""The event ledger: per event type and collector-receive minute, the counts at every hop, and the
balance check that names the hop where counts diverge.

**Window key.** Every hop counts by the minute the collector received the event
(``collector_received_at``): the collector when it answers, the stream from the decoded record
(the Kafka record minute for a record it cannot decode), the lake and the warehouse from
``received_ms`` / ``received_at``. Kafka cannot see inside records, so Kafka is reconciled on its own
key: records per topic and *record-timestamp* minute (``offsets_for_times``) against what the
stream read per the same minute (``<p>:lk:<m>``).

Counts of one (minute, event type), names ``<hop>.<what>``::

    collector.accepted  collector.rejected:<reason>  collector.spilled  collector.replayed   (<p>:cl:<m>)
    kafka.records       stream.read                        (by Kafka record minute; offsets / <p>:lk:<m>)
    stream.valid  stream.late  stream.invalid:<reason>  stream.written  stream.bot   (<p>:lw:<m>)
    stream.received  stream.decoded  stream.redis   (derived: all stages; minus undecodable; written minus bots)
    lake.rows  lake.first                       (lake Parquet; ``first`` = first delivery of its event id)
    warehouse.raw  warehouse.staged             (RAW = the lake read in place locally; staging after dedup)
    warehouse.raw_first                         (Snowflake: RAW rows that are the first delivery of their event id)

Balance (per window, per event type; rejected events are booked under ``dead_letter``)::

    received = accepted + rejected
    received = written + invalid + duplicate + late + in_flight
    duplicate = stream.valid - stream.written;  in_flight = collector.accepted - stream.received

and every edge must agree once the window is older than its lag allowance: collector → stream
(``accepted == stream.received``), Kafka → stream (``kafka.records == stream.read``), stream → lake
(``written == lake.rows``), lake → RAW (``lake.rows == warehouse.raw``), RAW → staging
(``lake.first == warehouse.staged``). The first edge that does not is the hop named in the incident.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines import lake_reader
from pipelines.contracts.topics import load_topics
from pipelines.lake_reader import LakeLike

DEAD_LETTER = "dead_letter"
STAGING_TABLES = {
    "page_view": "stg_events__page_views",
    "product_impression": "stg_events__product_impressions",
    "chart_interaction": "stg_events__chart_interactions",
    "affiliate_click": "stg_events__affiliate_clicks",
    "conversion": "stg_events__conversions",
}
UNDECODED = ("undecodable", "unknown_schema_version", "unknown_event_type", "schema_violation")
# the hops, in pipeline order, with the edge each one closes
HOPS = ("collector", "kafka", "stream", "lake", "warehouse")

Key = tuple[int, str]  # (receive minute, event type)


def staging_tables(con: Any) -> set[str]:
    """Tables of the DuckDB warehouse's ``staging`` schema (dbt's staging models that exist yet)."""
    rows = con.execute("select table_name from information_schema.tables where table_schema = 'staging'").fetchall()
    return {r[0] for r in rows}


def topic_event_types(prefix: str = "") -> dict[str, str]:
    """Topic name → event type, from schemas/topics.yaml."""
    return {f"{prefix}{t.name}": t.event_type for t in load_topics()}


@dataclass
class Ledger:
    """Counts per (minute, event type) and which hops reported at all."""

    counts: dict[Key, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    measured: set[str] = field(default_factory=set)

    def add(self, minute: int, event_type: str, name: str, n: int) -> None:
        if n:
            self.counts[(minute, event_type)][name] += n

    def merge(self, other: Ledger) -> None:
        for key, c in other.counts.items():
            self.counts[key].update(c)
        self.measured |= other.measured


# ---------------------------------------------------------------------- readers (one per hop)


def _minutes_of(client: Any, pattern: str, start: int, end: int) -> list[tuple[int, str]]:
    out = []
    for raw in client.scan_iter(match=pattern, count=1000):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            m = int(key.rsplit(":", 1)[1])
        except ValueError:
            continue
        if start <= m < end:
            out.append((m, key))
    return sorted(out)


def _hash(client: Any, key: str) -> dict[str, int]:
    return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in client.hgetall(key).items()}


def read_collector(client: Any, prefix: str, start: int, end: int) -> Ledger:
    """The collector's counts (``pipelines/collector/ledger.py``) for minutes [start, end)."""
    led = Ledger()
    for m, key in _minutes_of(client, f"{prefix}:cl:*", start, end):
        led.measured.add("collector")
        for f, n in _hash(client, key).items():
            event_type, _, what = f.partition("|")
            led.add(m, event_type, f"collector.{what}", n)
    return led


def read_stream(client: Any, prefix: str, start: int, end: int, topics: Mapping[str, str]) -> Ledger:
    """The stream's window counts (``<p>:lw:<m>``) and what it read per Kafka minute (``<p>:lk:<m>``)."""
    led = Ledger()
    for m, key in _minutes_of(client, f"{prefix}:lw:*", start, end):
        led.measured.add("stream")
        for f, n in _hash(client, key).items():
            topic, _, what = f.partition("|")
            led.add(m, topics.get(topic, topic), f"stream.{what}", n)
    for m, key in _minutes_of(client, f"{prefix}:lk:*", start, end):
        for topic, n in _hash(client, key).items():
            led.add(m, topics.get(topic, topic), "stream.read", n)
    return led


def read_stream_files(lake_dir: LakeLike, start: int, end: int, topics: Mapping[str, str]) -> Ledger:
    """The same counts from the lake's ``_ledger/<stream>/batch-*.json`` files (durable, no TTL)."""
    led = Ledger()
    for _, doc in lake_reader.json_docs(lake_reader.as_lake(lake_dir), "_ledger", modified_since_ms=start * 60_000):
        for wkey, fields in (doc.get("windows") or {}).items():
            kind, _, minute = wkey.partition(":")
            m = int(minute)
            if not start <= m < end:
                continue
            led.measured.add("stream")
            for f, n in fields.items():
                if kind == "lw":
                    topic, _, what = f.partition("|")
                    led.add(m, topics.get(topic, topic), f"stream.{what}", n)
                else:
                    led.add(m, topics.get(f, f), "stream.read", n)
    return led


def read_kafka(
    bootstrap: str, topics: Mapping[str, str], start: int, end: int, client_config: Mapping[str, Any]
) -> Ledger:
    """Records per topic whose record timestamp falls in each minute of [start, end):
    ``offsets_for_times`` at minute boundaries on every partition (the log end when no record is
    that new). Empty stretches are skipped by bisection, so a quiet day costs a few lookups."""
    from confluent_kafka import Consumer, TopicPartition

    led = Ledger()
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "quality-monitor", "enable.auto.commit": False, **client_config}
    )
    try:
        md = consumer.list_topics(timeout=10)
        parts = [(t, p) for t in topics if t in md.topics for p in md.topics[t].partitions]
        if not parts:
            return led
        led.measured.add("kafka")
        high = {tp: consumer.get_watermark_offsets(TopicPartition(*tp), timeout=10)[1] for tp in parts}
        at: dict[int, dict[tuple[str, int], int]] = {}

        def offsets(minute: int) -> dict[tuple[str, int], int]:
            if minute not in at:
                found = consumer.offsets_for_times(
                    [TopicPartition(t, p, minute * 60_000) for t, p in parts], timeout=10
                )
                at[minute] = {
                    (x.topic, x.partition): x.offset if x.offset >= 0 else high[(x.topic, x.partition)] for x in found
                }
            return at[minute]

        def count(lo: int, hi: int) -> None:
            a, b = offsets(lo), offsets(hi)
            if all(a[tp] == b[tp] for tp in parts):
                return
            if hi - lo == 1:
                for tp in parts:
                    led.add(lo, topics[tp[0]], "kafka.records", b[tp] - a[tp])
                return
            mid = (lo + hi) // 2
            count(lo, mid)
            count(mid, hi)

        if end > start:
            count(start, end)
    finally:
        consumer.close()
    return led


def read_lake(lake_dir: LakeLike | None, start: int, end: int) -> Ledger:
    """Lake rows per receive minute, and how many are the first delivery of their event id (what
    staging keeps; the latest for conversions, as ``stg_events__conversions`` does)."""
    import duckdb

    led = Ledger()
    lake = lake_reader.present(lake_dir)
    if lake is None:
        return led
    led.measured.add("lake")
    files = lake_reader.event_files(lake, start * 60_000, end * 60_000)
    if not files:
        return led
    rows_table = lake_reader.table(lake, files, ["event_type", "received_ms", "kafka_offset", "event_id"])
    con = duckdb.connect()
    con.register("rows_table", rows_table)
    rows = con.execute(
        """
        with ranked as (
            select *, row_number() over (
                partition by event_type, event_id
                order by case when event_type = 'conversion' then -received_ms else received_ms end, kafka_offset
            ) as n
            from rows_table
        )
        select event_type, received_ms // 60000 as m, count(*), count(*) filter (where n = 1)
        from ranked where received_ms >= ? and received_ms < ? group by all
        """,
        [start * 60_000, end * 60_000],
    ).fetchall()
    for event_type, m, n, first in rows:
        led.add(int(m), str(event_type), "lake.rows", int(n))
        led.add(int(m), str(event_type), "lake.first", int(first))
    return led


def read_warehouse(warehouse: Path, start: int, end: int, raw_is_lake: Ledger | None = None) -> Ledger:
    """Staged rows per receive minute from the DuckDB warehouse. Locally RAW *is* the lake (dbt reads
    it in place), so ``warehouse.raw`` repeats ``lake.rows``; on Snowflake it is ``RAW.EVENTS.<TYPE>``."""
    import duckdb

    led = Ledger()
    if not warehouse.exists():
        return led
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = staging_tables(con)
        present = {t: name for t, name in STAGING_TABLES.items() if name in tables}
        if not present:
            return led
        led.measured.add("warehouse")
        for event_type, table in present.items():
            rows = con.execute(
                f"select epoch_ms(received_at) // 60000 as m, count(*) from staging.{table} "
                "where epoch_ms(received_at) >= ? and epoch_ms(received_at) < ? group by 1",
                [start * 60_000, end * 60_000],
            ).fetchall()
            for m, n in rows:
                led.add(int(m), event_type, "warehouse.staged", int(n))
    finally:
        con.close()
    if raw_is_lake is not None:
        for (m, event_type), c in raw_is_lake.counts.items():
            led.add(m, event_type, "warehouse.raw", c["lake.rows"])
    return led


def read_warehouse_snowflake(
    conn: Any, start: int, end: int, raw: str = "RAW.EVENTS", staging: str = "TRANSFORMED.STAGING"
) -> Ledger:
    """The warehouse hop on Snowflake (DB-API connection, e.g. the MONITOR service user): rows the
    pipe loaded into ``RAW.EVENTS.<TYPE>`` per receive minute (from ``RECORD``: the lake row's
    ``received_ms``, else a bare record's ``context.collector_received_at``), how many of them are
    the first delivery of their event id, and the staged rows after dedup."""
    led = Ledger()
    received = "coalesce(RECORD:received_ms::number, RECORD:context:collector_received_at::number)"
    cur = conn.cursor()
    try:
        for event_type, table in STAGING_TABLES.items():
            cur.execute(
                f"""
                with rows as (
                    select {received} as received_ms, RECORD:event_id::varchar as event_id from {raw}.{event_type.upper()}
                ), ranked as (
                    select received_ms, row_number() over (
                        partition by event_id
                        order by case when '{event_type}' = 'conversion' then -received_ms else received_ms end
                    ) as n
                    from rows
                )
                select floor(received_ms / 60000) as m, count(*), count_if(n = 1)
                from ranked where received_ms >= %s and received_ms < %s group by 1
                """,
                (start * 60_000, end * 60_000),
            )
            for m, n, first in cur.fetchall():
                led.add(int(m), event_type, "warehouse.raw", int(n))
                led.add(int(m), event_type, "warehouse.raw_first", int(first))
            cur.execute(
                f"select floor(date_part(epoch_millisecond, RECEIVED_AT) / 60000) as m, count(*) from "
                f"{staging}.{table.upper()} where date_part(epoch_millisecond, RECEIVED_AT) >= %s "
                "and date_part(epoch_millisecond, RECEIVED_AT) < %s group by 1",
                (start * 60_000, end * 60_000),
            )
            for m, n in cur.fetchall():
                led.add(int(m), event_type, "warehouse.staged", int(n))
        led.measured.add("warehouse")
    finally:
        cur.close()
    return led


# ---------------------------------------------------------------------- balance


@dataclass(frozen=True)
class Gap:
    hop: str  # where the counts diverge
    edge: str  # which two counts
    expected: int
    got: int

    @property
    def missing(self) -> int:
        return self.expected - self.got


@dataclass(frozen=True)
class WindowBalance:
    minute: int
    event_type: str
    received: int
    accepted: int
    rejected: int
    written: int
    invalid: int
    duplicate: int
    late: int
    bot: int
    in_flight: int
    status: str  # balanced | in_flight | unbalanced | unmeasured
    gaps: tuple[Gap, ...]
    counts: dict[str, int]

    @property
    def hop(self) -> str | None:
        return self.gaps[0].hop if self.status == "unbalanced" and self.gaps else None

    def row(self) -> dict[str, Any]:
        return {
            "minute": self.minute,
            "window_start": datetime.fromtimestamp(self.minute * 60, tz=UTC).isoformat(),
            "event_type": self.event_type,
            "received": self.received,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "written": self.written,
            "invalid": self.invalid,
            "duplicate": self.duplicate,
            "late": self.late,
            "bot": self.bot,
            "in_flight": self.in_flight,
            "status": self.status,
            "hop": self.hop,
            "gaps": [g.__dict__ for g in self.gaps],
            "counts": dict(sorted(self.counts.items())),
        }


def _sum(c: Mapping[str, int], prefix: str) -> int:
    return sum(n for k, n in c.items() if k.startswith(prefix))


def balance(
    led: Ledger,
    now_s: float,
    stream_allowance_min: float,
    warehouse_allowance_min: float,
    check_warehouse: bool = True,
) -> list[WindowBalance]:
    """The balance of every (minute, event type) in the ledger, oldest first."""
    now_min = now_s / 60
    # Kafka edge per (Kafka minute, event type): records produced vs read by the stream
    kafka_gaps: dict[str, set[int]] = defaultdict(set)
    if "kafka" in led.measured:
        for (m, et), c in led.counts.items():
            if c["kafka.records"] > c["stream.read"] and now_min >= m + 1 + stream_allowance_min:
                kafka_gaps[et].add(m)
    out = []
    for (m, et), c in sorted(led.counts.items()):
        accepted = c["collector.accepted"]
        rejected = _sum(c, "collector.rejected:")
        stream_invalid = _sum(c, "stream.invalid:")
        received_stream = c["stream.valid"] + c["stream.late"] + stream_invalid
        written = c["stream.written"]
        duplicate = max(c["stream.valid"] - written, 0)
        if et == DEAD_LETTER:
            received = rejected
            in_flight = 0
        elif "collector" in led.measured:
            received = accepted + rejected
            in_flight = max(accepted - received_stream, 0)
        else:
            received = received_stream
            in_flight = 0
        closed = now_min >= m + 1 + stream_allowance_min
        wh_closed = now_min >= m + 1 + warehouse_allowance_min
        edges: list[tuple[str, str, int, int, bool]] = []  # hop, edge, expected, got, past its allowance
        if et != DEAD_LETTER:
            if "collector" in led.measured and "stream" in led.measured:
                redelivered = received_stream > accepted and received_stream - accepted <= duplicate
                if not redelivered:  # at-least-once redeliveries (collector replay) the stream deduplicated
                    near = any(k in kafka_gaps[et] for k in range(m - 1, m + 2))
                    hop = "stream" if near else "kafka"
                    edges.append((hop, "collector.accepted → stream.received", accepted, received_stream, closed))
            if "kafka" in led.measured and m in kafka_gaps[et]:
                edges.append(("stream", "kafka.records → stream.read", c["kafka.records"], c["stream.read"], closed))
            if "lake" in led.measured and "stream" in led.measured:
                edges.append(("lake", "stream.written → lake.rows", written, c["lake.rows"], closed))
            if check_warehouse and "warehouse" in led.measured and "lake" in led.measured:
                edges.append(("warehouse", "lake.rows → warehouse.raw", c["lake.rows"], c["warehouse.raw"], wh_closed))
                edges.append(
                    ("warehouse", "lake.first → warehouse.staged", c["lake.first"], c["warehouse.staged"], wh_closed)
                )
            elif check_warehouse and "warehouse" in led.measured and "stream" in led.measured:  # no lake reader (S3)
                edges.append(("warehouse", "stream.written → warehouse.raw", written, c["warehouse.raw"], wh_closed))
                edges.append(
                    (
                        "warehouse",
                        "warehouse.raw_first → warehouse.staged",
                        c["warehouse.raw_first"],
                        c["warehouse.staged"],
                        wh_closed,
                    )
                )
        gaps = [Gap(hop, name, e, g) for hop, name, e, g, past in edges if e != g and past]
        pending = any(e != g and not past for _, _, e, g, past in edges)
        if "stream" in led.measured and et != DEAD_LETTER:  # derived: what the stream decoded and put in Redis
            undecoded = sum(c[f"stream.invalid:{r}"] for r in UNDECODED)
            c = Counter(c)
            c["stream.received"] = received_stream
            c["stream.decoded"] = received_stream - undecoded
            c["stream.redis"] = written - c["stream.bot"]  # bots stay out of the business metrics
        measured = ("stream" in led.measured) or et == DEAD_LETTER
        status = "unbalanced" if gaps else ("in_flight" if pending else ("balanced" if measured else "unmeasured"))
        out.append(
            WindowBalance(
                minute=m,
                event_type=et,
                received=received,
                accepted=accepted,
                rejected=rejected,
                written=written,
                invalid=stream_invalid + rejected,
                duplicate=duplicate,
                late=c["stream.late"],
                bot=c["stream.bot"],
                in_flight=in_flight,
                status=status,
                gaps=tuple(gaps),
                counts=dict(c),
            )
        )
    return out


def collect(
    *,
    redis_client: Any,
    prefix: str,
    start: int,
    end: int,
    kafka_bootstrap: str | None = None,
    kafka_config: Mapping[str, Any] | None = None,
    lake_dir: LakeLike | None = None,
    warehouse: Path | None = None,
    topic_prefix: str = "",
    snowflake: Any = None,
) -> Ledger:
    """Read every hop that is configured for receive minutes [start, end)."""
    topics = topic_event_types(topic_prefix)
    led = read_collector(redis_client, prefix, start, end)
    stream = read_stream(redis_client, prefix, start, end, topics)
    present = lake_reader.present(lake_dir)
    if present is not None:
        # minutes whose Redis counts expired (TTL) come from the lake's ledger files
        files = read_stream_files(present, start, end, topics)
        have = {m for m, _ in stream.counts}
        for (m, et), c in files.counts.items():
            if m not in have:
                stream.counts[(m, et)].update(c)
        stream.measured |= files.measured
    led.merge(stream)
    if kafka_bootstrap:
        event_topics = {t: et for t, et in topics.items() if et != DEAD_LETTER}
        led.merge(read_kafka(kafka_bootstrap, event_topics, start, end, kafka_config or {}))
    lake = read_lake(present, start, end) if lake_dir is not None else None
    if lake is not None:
        led.merge(lake)
    if snowflake is not None:  # the cloud: RAW and staging on Snowflake
        led.merge(read_warehouse_snowflake(snowflake, start, end))
    elif warehouse is not None and lake is not None:
        led.merge(read_warehouse(warehouse, start, end, raw_is_lake=lake))
    return led


def live_minutes(client: Any, prefix: str, minutes: Iterable[int], topic_prefix: str = "") -> Ledger:
    """The collector and stream counts of a few minutes (the dashboard's live view): one pipeline."""
    topics = topic_event_types(topic_prefix)
    span = list(minutes)
    pipe = client.pipeline(transaction=False)
    for m in span:
        pipe.hgetall(f"{prefix}:cl:{m}")
        pipe.hgetall(f"{prefix}:lw:{m}")
    replies = pipe.execute()
    return ledger_from_hashes(span, replies, topics)


def ledger_from_hashes(span: list[int], replies: list[Any], topics: Mapping[str, str]) -> Ledger:
    led = Ledger()
    for i, m in enumerate(span):
        cl, lw = replies[2 * i], replies[2 * i + 1]
        for k, v in cl.items():
            f = k.decode() if isinstance(k, bytes) else str(k)
            event_type, _, what = f.partition("|")
            led.add(m, event_type, f"collector.{what}", int(v))
            led.measured.add("collector")
        for k, v in lw.items():
            f = k.decode() if isinstance(k, bytes) else str(k)
            topic, _, what = f.partition("|")
            led.add(m, topics.get(topic, topic), f"stream.{what}", int(v))
            led.measured.add("stream")
    return led


def now_minute() -> int:
    return int(time.time() // 60)
