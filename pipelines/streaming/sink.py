"""The fast path's micro-batch sinks: bot flags, segments, Redis metrics and the lake, in Spark.

Each step gives what the reference (``lake.write_partition``, Python per row) gives, without a
Python pass over the rows:

- **bot flags**: the rate signal as a broadcast join of the batch's (session, minute) counts;
- **segments**: the event-scope rules evaluated by the rules engine (``pipelines.segmentation.engine``,
  the one definition) once per *distinct* combination of the facts the rules read (event type,
  enrichment, each ``event.*`` path the rules name, the visitor's profile row), joined back by a
  key; the session-scope segments joined by session id;
- **Redis metrics**: every row's contributions (``metrics.Accumulator.add``) as (key, field)
  entries exploded and counted by one Spark aggregation; only the aggregate is collected;
- **lake**: Spark's Parquet writer into ``_staging/<stream id>/batch-<id>/`` (invisible to readers,
  which glob ``event_type=/date=/hour=`` and skip ``_`` folders), then each file renamed into its
  hive partition under a deterministic name (``<stream id>-b<batch>-p<task>-<n>.parquet``); the
  job writes the commit file last, as on the reference path. Local lakes only: an S3 lake keeps
  the reference writer (Spark would need the s3a connector).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql.types import ArrayType, StringType

from pipelines.streaming import lake, metrics
from pipelines.streaming.lakefs import Lake

_ENRICH = ("device_type", "browser", "os", "channel", "is_bot")


def with_bot_flags(events: DataFrame, events_per_minute: int) -> DataFrame:
    """``bot_reasons`` with the rate signal appended where the session's minute has more than
    ``events_per_minute`` events in the batch, and ``is_bot``."""
    rate = (
        events.where(F.col("session_id").isNotNull())
        .groupBy("session_id", "minute")
        .count()
        .where(F.col("count") > events_per_minute)
        .select("session_id", "minute", F.lit(True).alias("_rate"))
    )
    reasons = F.coalesce(F.col("bot_reasons"), F.lit(""))
    flagged = F.when(
        F.col("_rate").isNotNull(), F.when(reasons == "", F.lit("rate")).otherwise(F.concat(reasons, F.lit(",rate")))
    ).otherwise(reasons)
    return (
        events.join(F.broadcast(rate), ["session_id", "minute"], "left")
        .withColumn("bot_reasons", flagged)
        .withColumn("is_bot", F.col("bot_reasons") != "")
        .drop("_rate")
    )


def _set_path(root: dict[str, Any], path: list[str], value: Any) -> None:
    node = root
    for name in path[:-1]:
        nxt = node.get(name)
        if not isinstance(nxt, dict):
            nxt = {}
            node[name] = nxt
        node = nxt
    node[path[-1]] = value


_SPARK_TYPES = {"string": "string", "int": "bigint", "long": "bigint", "float": "double", "double": "double",
                "boolean": "boolean"}  # fmt: skip


def _spark_type(node: Any) -> str | None:
    """The Spark type whose JSON reading gives what json.loads gives for this Avro type (None: no such type)."""
    if isinstance(node, list):
        inner = [t for t in node if t != "null"]
        return _spark_type(inner[0]) if len(inner) == 1 else None
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "record":
            fields = [(f["name"], _spark_type(f["type"])) for f in node["fields"]]
            if any(t is None for _, t in fields):
                return None
            return "struct<" + ", ".join(f"`{n}`: {t}" for n, t in fields) + ">"
        if kind == "enum":
            return "string"
        if kind == "array":
            inner_type = _spark_type(node["items"])
            return f"array<{inner_type}>" if inner_type else None
        return _spark_type(kind) if isinstance(kind, str) and kind not in ("map", "fixed") else None
    return _SPARK_TYPES.get(node) if isinstance(node, str) else None


def _path_type(path: str) -> str | None:
    """The one Spark type of ``path`` in every event type's current schema that has it."""
    from pipelines.contracts.schemas import load_contracts

    found: set[str | None] = set()
    for contract in load_contracts().values():
        node: Any = dict(contract.definition)
        for name in path.split("."):
            if isinstance(node, list):
                inner = [t for t in node if t != "null"]
                node = inner[0] if len(inner) == 1 else None
            if not (isinstance(node, dict) and node.get("type") == "record"):
                node = None
                break
            node = next((f["type"] for f in node["fields"] if f["name"] == name), None)
            if node is None:
                break
        if node is not None:
            found.add(_spark_type(node))
    return found.pop() if len(found) == 1 and None not in found else None


def _typed_paths(paths: list[str]) -> tuple[dict[str, str], list[str]]:
    """Paths read with a typed JSON schema (path → Spark type) and the others (read as JSON text)."""
    typed: dict[str, str] = {}
    untyped: list[str] = []
    for path in paths:
        kind = _path_type(path)
        if kind is None:
            untyped.append(path)
        else:
            typed[path] = kind
    return typed, untyped


def _struct_ddl(typed: dict[str, str]) -> str:
    tree: dict[str, Any] = {}
    for path, kind in sorted(typed.items(), key=lambda item: item[0].count(".")):
        node = tree
        names = path.split(".")
        for name in names[:-1]:
            nxt = node.setdefault(name, {})
            if not isinstance(nxt, dict):
                break  # an ancestor is read whole: it holds this path
            node = nxt
        else:
            node.setdefault(names[-1], kind)

    def render(node: dict[str, Any]) -> str:
        return "struct<" + ", ".join(f"`{k}`: {v if isinstance(v, str) else render(v)}" for k, v in node.items()) + ">"

    return render(tree)


def with_segments(spark: SparkSession, events: DataFrame, segmenter: Any) -> tuple[DataFrame, list[DataFrame]]:
    """``segments``: what ``Segmenter.segments_for_row`` gives each row, evaluated per distinct facts;
    and the DataFrames cached on the way (the caller unpersists them when done with the result)."""
    empty = F.array().cast("array<string>")
    if segmenter is None:
        return events.withColumn("segments", empty), []
    fields = sorted(segmenter.rules.fields("event"))
    event_paths = sorted(segmenter.rules.event_paths(), key=lambda p: -p.count("."))
    uses_profile = any(f.startswith("profile.") for f in fields) and bool(segmenter.profiles)
    facts: dict[str, Column] = {"event_type": F.col("event_type")}
    facts |= {f"x_{name}": F.col(name) for name in _ENRICH}
    typed, untyped = _typed_paths(event_paths)
    if typed:  # one pass of the JSON parser, only the named fields kept, typed as in the schema
        facts["ev"] = F.from_json(F.col("payload"), _struct_ddl(typed))
    for i, path in enumerate(untyped):
        json_path = "$." + ".".join(f"['{p}']" if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p) else p
                                    for p in path.split("."))  # fmt: skip
        as_json = F.to_json(F.expr(f"variant_get(try_parse_json(payload), '{json_path}', 'variant')"))
        facts[f"e{i}"] = as_json
        # variant_get normalises numbers (12.0 → 12); numbers are taken from the payload's own text
        facts[f"n{i}"] = F.when(as_json.rlike("^[-0-9]"), F.get_json_object(F.col("payload"), json_path))
    if uses_profile:
        vid = F.coalesce(F.col("visitor_id").cast("string"), F.lit("None"))
        keys = list(segmenter.profiles)
        facts["profile"] = F.when(vid.isin(keys), vid) if len(keys) <= 10_000 else vid
    keyed = events.select("*", *[c.alias(f"_f_{n}") for n, c in facts.items()]).persist()
    names = [f"_f_{n}" for n in facts]
    distinct = keyed.select(*names).distinct().toArrow().to_pylist()
    mapping = []
    for row in distinct:
        event: dict[str, Any] | None = None
        if segmenter.rules.uses_event_payload:
            event = dict(row["_f_ev"] or {}) if typed else {}
            for i, path in enumerate(untyped):
                text = row[f"_f_n{i}"] if row[f"_f_n{i}"] is not None else row[f"_f_e{i}"]
                if text is not None:
                    _set_path(event, path.split("."), json.loads(text))
        profile_key = row["_f_profile"] if uses_profile else None
        doc = {
            "event_type": row["_f_event_type"],
            "event": event,
            "enrich": {name: row[f"_f_x_{name}"] for name in _ENRICH},
            "profile": segmenter.profiles.get(profile_key) if profile_key is not None else None,
        }
        mapping.append((*[row[n] for n in names], segmenter.rules.evaluate(doc, "event")))
    schema = keyed.select(*names).schema.add("_event_segs", ArrayType(StringType()))
    segs = spark.createDataFrame(mapping, schema)
    cond = [keyed[n].eqNullSafe(segs[n]) for n in names]
    out = keyed.join(F.broadcast(segs), cond, "left").drop(*[segs[n] for n in names]).drop(*names)
    merged = F.coalesce(F.col("_event_segs"), empty)
    if segmenter.session_segments:
        sessions = spark.createDataFrame(
            [(s, list(v)) for s, v in segmenter.session_segments.items()], "session_id string, _sess array<string>"
        )
        out = out.join(F.broadcast(sessions), "session_id", "left")
        merged = F.concat(merged, F.filter(F.coalesce(F.col("_sess"), empty), lambda x: ~F.array_contains(merged, x)))
    return out.withColumn("segments", merged).drop("_event_segs", "_sess"), [keyed]


_COUNTER_FIELDS = (
    "minute",
    "event_type",
    "is_bot",
    "received_ms",
    "kafka_topic",
    "site_id",
    "page_path",
    "link_id",
    "merchant",
    "position",
    "segments",
)


def accumulate(events: DataFrame) -> metrics.Accumulator:
    """The batch's metrics, equal to ``metrics.Accumulator.add`` over every row, from two Spark
    aggregations: the counters from the groups of every field they read (the receive time to the
    minute), the HyperLogLog members from the distinct (minute, session, page view page, segments)
    of the human rows. Only the groups are collected; ``add`` runs once per group."""
    acc = metrics.Accumulator()
    by = [F.col(c) for c in _COUNTER_FIELDS if c != "received_ms"]
    # add() reads received_ms // 60_000 only: a minute's first millisecond stands for the minute
    received = (F.floor(F.col("received_ms") / 60_000) * 60_000).cast("bigint").alias("received_ms")
    groups = events.groupBy(*by, received).count().toArrow()
    for row, n in zip(groups.drop_columns(["count"]).to_pylist(), groups.column("count").to_pylist(), strict=True):
        acc.add(row, n, members=False)
    pv_page = F.when(F.col("event_type") == "page_view", F.col("page_path"))
    sessions = (
        events.where(~F.col("is_bot") & F.col("session_id").isNotNull() & (F.col("session_id") != ""))
        .select(
            "minute",
            "session_id",
            F.when(F.col("event_type") == "page_view", F.lit("page_view")).otherwise("other").alias("event_type"),
            F.when(pv_page.isNotNull(), F.col("site_id")).alias("site_id"),
            pv_page.alias("page_path"),
            "segments",
        )
        .distinct()
        .toArrow()
    )
    for row in sessions.to_pylist():
        acc.add({**row, "is_bot": False}, members=True, counters=False)
    return acc


_PART = re.compile(r"part-(\d+)")


def write_lake(events: DataFrame, where: Lake, stream_id: str, batch_id: int) -> dict[str, int]:
    """The batch's rows as Parquet in the lake's hive layout; {file path: rows}. The caller writes
    the commit file afterwards (and ``lake.begin_attempt`` before: it removes a crashed attempt's files)."""
    root = where.local_root
    assert root is not None, "Spark's writer is used for local lakes only"
    staging_rel = f"_staging/{stream_id}/batch-{batch_id:09d}"
    staged = root / staging_rel
    import shutil

    shutil.rmtree(staged, ignore_errors=True)
    (
        events.select(
            *[F.col(c) for c in lake.LAKE_COLUMNS if c != "stream_batch_id"],
            F.lit(batch_id).cast("bigint").alias("stream_batch_id"),
            F.col("event_type").alias("p_event_type"),
            F.col("date").alias("p_date"),
            F.col("hour").alias("p_hour"),
        )
        .write.partitionBy("p_event_type", "p_date", "p_hour")
        .option("compression", "zstd")
        .parquet(str(staged))
    )
    import pyarrow.parquet as pq

    prefix = lake.batch_prefix(stream_id, batch_id)
    files: dict[str, int] = {}
    seq: dict[tuple[str, str], int] = {}
    for path in sorted(staged.rglob("*.parquet")):
        rel = path.relative_to(staged)
        parts = dict(p.split("=", 1) for p in rel.parts[:-1])
        part = _PART.search(rel.name)
        task = int(part.group(1)) if part else 0
        folder = f"event_type={parts['p_event_type']}/date={parts['p_date']}/hour={parts['p_hour']}"
        n = seq.get((folder, str(task)), 0)
        seq[(folder, str(task))] = n + 1
        target = root / folder / f"{prefix}-p{task:04d}-{n:05d}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        rows = pq.read_metadata(path).num_rows
        path.replace(target)
        files[where.path(f"{folder}/{target.name}")] = rows
    shutil.rmtree(staged, ignore_errors=True)
    return files
