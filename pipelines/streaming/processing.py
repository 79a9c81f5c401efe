"""The per-record path the Spark job runs in its Python workers: decode → validate → enrich.

``decode_batches`` is given to ``DataFrame.mapInArrow``: it receives Kafka records as Arrow
batches and yields one output row per record (``kind`` = ``event`` or ``dlq``) plus one ``count``
row per input batch carrying the stage counts before deduplication (received, decoded, invalid by
reason, late, valid). The count rows travel through the deduplication with unique keys, so the
micro-batch writer sees exact pre-dedup counts and derives the duplicates without a second pass.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.contracts.errors import ContractError
from pipelines.streaming import enrichment, validation

OUTPUT_FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("kind", pa.string(), "string"),
    ("dedup_key", pa.string(), "string"),
    ("wm_ts", pa.timestamp("us", tz="UTC"), "timestamp"),
    ("event_type", pa.string(), "string"),
    ("event_id", pa.string(), "string"),
    ("session_id", pa.string(), "string"),
    ("visitor_id", pa.string(), "string"),
    ("site_id", pa.string(), "string"),
    ("page_path", pa.string(), "string"),
    ("event_time_ms", pa.int64(), "bigint"),
    ("received_ms", pa.int64(), "bigint"),
    ("minute", pa.int64(), "bigint"),
    ("date", pa.string(), "string"),
    ("hour", pa.string(), "string"),
    ("kafka_topic", pa.string(), "string"),
    ("kafka_partition", pa.int32(), "int"),
    ("kafka_offset", pa.int64(), "bigint"),
    ("schema_version_id", pa.string(), "string"),
    ("device_type", pa.string(), "string"),
    ("browser", pa.string(), "string"),
    ("os", pa.string(), "string"),
    ("bot_reasons", pa.string(), "string"),
    ("channel", pa.string(), "string"),
    ("link_id", pa.string(), "string"),
    ("merchant", pa.string(), "string"),
    ("product_id", pa.string(), "string"),
    ("position", pa.int32(), "int"),
    ("payload", pa.string(), "string"),
    ("facts", pa.string(), "string"),  # the segmentation rules' record paths (decode.decode_columns)
    ("dlq_reason", pa.string(), "string"),
    ("dlq_detail", pa.string(), "string"),
    ("raw", pa.binary(), "binary"),
    ("counts", pa.string(), "string"),
]
OUTPUT_ARROW_SCHEMA = pa.schema([(n, t) for n, t, _ in OUTPUT_FIELDS])
OUTPUT_DDL = ", ".join(f"{n} {d}" for n, _, d in OUTPUT_FIELDS)
RAW_CAP = 16 * 1024


@dataclass(frozen=True)
class DecodeParams:
    glue_endpoint: str | None
    registry_name: str
    policy: validation.Policy
    jvm_versions: frozenset[str] = frozenset()  # version ids the JVM decodes (str(UUID))


_codecs: dict[tuple[str | None, str], Any] = {}


def _codec(params: DecodeParams) -> Any:
    key = (params.glue_endpoint, params.registry_name)
    codec = _codecs.get(key)
    if codec is None:
        from pipelines.contracts.codec import Codec
        from pipelines.contracts.registry import GlueSchemaRegistry, glue_client

        codec = Codec(GlueSchemaRegistry(glue_client(params.glue_endpoint), params.registry_name), {})
        _codecs[key] = codec
    return codec


def _dumps() -> Any:
    try:
        import orjson

        return lambda obj: orjson.dumps(obj).decode()
    except ImportError:  # pragma: no cover - orjson is a pipelines dependency
        return lambda obj: json.dumps(obj, separators=(",", ":"))


_DUMPS = _dumps()


@lru_cache(maxsize=1024)
def _hour_parts(hour: int) -> tuple[str, str]:
    dt = datetime.fromtimestamp(hour * 3600, tz=UTC)
    return dt.strftime("%Y-%m-%d"), dt.strftime("%H")


def _time_parts(ms: int) -> tuple[int, str, str]:
    date, hour = _hour_parts(ms // 3_600_000)
    return ms // 60_000, date, hour


def process_record(
    value: bytes, codec: Any, now_ms: int, policy: validation.Policy
) -> tuple[str, dict[str, Any], str | None]:
    """One Kafka record → (kind, columns, stage) where stage is the counted outcome:
    ``valid``, ``late`` or an invalid reason."""
    try:
        decoded = codec.decode(value)
    except ContractError as exc:
        return "dlq", {"dlq_reason": exc.reason, "dlq_detail": str(exc)[:2000]}, exc.reason
    return process_decoded(decoded.event_type, str(decoded.version_id), decoded.record, now_ms, policy)


def process_decoded(
    event_type: str,
    version_id: str,
    record: dict[str, Any],
    now_ms: int,
    policy: validation.Policy,
    payload: str | None = None,
) -> tuple[str, dict[str, Any], str | None]:
    """Validate and enrich a decoded record. ``record`` is the full record (codec path) or its rule
    fields (JVM path, ``decode.RULE_FIELDS``); then ``payload`` is the record's JSON from the JVM."""
    ctx = record.get("context") or {}
    cols: dict[str, Any] = {
        "event_type": event_type,
        "event_id": record.get("event_id"),
        "schema_version_id": version_id,
        "session_id": ctx.get("session_id"),
        "visitor_id": ctx.get("visitor_id"),
        "site_id": ctx.get("site_id"),
        "page_path": ctx.get("page_path"),
    }
    rejection = validation.check(event_type, record, now_ms, policy)
    if rejection is not None:
        cols.update(dlq_reason=rejection.reason, dlq_detail=rejection.detail, received_ms=_received_or_none(record))
        return "dlq", cols, ("late" if rejection.reason == "late_event" else rejection.reason)
    event_ms = validation.event_time_ms(event_type, record)
    minute, date, hour = _time_parts(event_ms)
    device = enrichment.parse_user_agent(ctx.get("user_agent")) if ctx else None
    cols.update(
        event_time_ms=event_ms,
        received_ms=validation.received_ms(record),
        minute=minute,
        date=date,
        hour=hour,
        device_type=device.device_type if device else None,
        browser=device.browser if device else None,
        os=device.os if device else None,
        bot_reasons=",".join(enrichment.bot_reasons(event_type, record)),
        channel=enrichment.channel_of(record),
        link_id=record.get("link_id"),
        merchant=record.get("merchant"),
        product_id=record.get("product_id"),
        position=record.get("position"),
        payload=payload if payload is not None else _DUMPS(record),
    )
    return "event", cols, "valid"


def decode_batches(batches: Iterator[pa.RecordBatch], params: DecodeParams) -> Iterator[pa.RecordBatch]:
    """mapInArrow body of the Python decode: Kafka columns (value, topic, partition, offset,
    timestamp) → OUTPUT rows; every record is decoded by the codec (fastavro)."""
    codec = _codec(params)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        now_ms = int(time.time() * 1000)
        values = batch.column("value").to_pylist()
        results = [process_record(v or b"", codec, now_ms, params.policy) for v in values]
        yield _output(batch, values.__getitem__, results)


@lru_cache(maxsize=4096)
def _version_str(version_hex: str) -> str:
    return str(UUID(hex=version_hex))


@lru_cache(maxsize=64)
def _record_builders(event_type: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(input column, record path) of the rule fields ``event_type`` has."""
    from pipelines.contracts.schemas import load_contracts
    from pipelines.streaming.decode import field_column, present_paths

    paths = present_paths(load_contracts()).get(event_type, [])
    return tuple((field_column(p), p) for p in paths)


def jvm_row_results(
    batch: pa.RecordBatch,
    params: DecodeParams,
    now_ms: int,
    new_versions: Counter[str],
    to_codec: Callable[[int], bool] | None = None,
) -> list[tuple[str, dict[str, Any], str | None]]:
    """The per-record rules on rows after the JVM decode: a row the JVM decoded (``jvm_type`` set)
    is validated and enriched from its rule fields with the JVM's JSON as payload; the others (and
    those ``to_codec`` picks) go through the codec exactly as in :func:`decode_batches`. Versions
    the codec met that the plan lacks are counted in ``new_versions``."""
    codec = None
    # the record bytes and the JVM's JSON stay in Arrow: only the rule fields become Python
    cols = {n: batch.column(n).to_pylist() for n in batch.schema.names if n not in ("value", "payload", "facts")}
    values = batch.column("value")
    results: list[tuple[str, dict[str, Any], str | None]] = []
    for i, event_type in enumerate(cols["jvm_type"]):
        if event_type is None or (to_codec is not None and to_codec(i)):
            if codec is None:
                codec = _codec(params)
            result = process_record(values[i].as_py() or b"", codec, now_ms, params.policy)
            version = result[1].get("schema_version_id")
            if version is not None and version not in params.jvm_versions:
                new_versions[version] += 1  # registered after the plan was built
            results.append(result)
            continue
        record: dict[str, Any] = {}
        for column, path in _record_builders(event_type):
            node = record
            for name in path[:-1]:
                node = node.setdefault(name, {})
            node[path[-1]] = cols[column][i]
        version = _version_str(cols["version_hex"][i])
        results.append(process_decoded(event_type, version, record, now_ms, params.policy, _FROM_JVM))
    return results


def decode_jvm_batches(batches: Iterator[pa.RecordBatch], params: DecodeParams) -> Iterator[pa.RecordBatch]:
    """mapInArrow body after the JVM decode (``decode.decode_columns``): :func:`jvm_row_results`
    on every row."""
    for batch in batches:
        if batch.num_rows == 0:
            continue
        new_versions: Counter[str] = Counter()
        results = jvm_row_results(batch, params, int(time.time() * 1000), new_versions)
        value_column = batch.column("value")

        def value_at(i: int, value_column: pa.Array = value_column) -> bytes | None:
            return value_column[i].as_py()

        yield _output(batch, value_at, results, jvm_payload=batch.column("payload"), new_versions=new_versions)


_FROM_JVM = ""
"""Payload placeholder of a JVM-decoded event: _output takes its JSON from the JVM's column."""


def _output(
    batch: pa.RecordBatch,
    value_at: Callable[[int], bytes | None],
    results: list[tuple[str, dict[str, Any], str | None]],
    jvm_payload: pa.Array | None = None,
    new_versions: Counter[str] | None = None,
) -> pa.RecordBatch:
    """OUTPUT rows of one input batch: one per record plus its count row (stage counts), built
    column by column; ``jvm_payload`` fills the payload of events whose placeholder is _FROM_JVM."""
    topics = batch.column("topic").to_pylist()
    partitions = batch.column("partition").to_pylist()
    offsets = batch.column("offset").to_pylist()
    stamps = batch.column("timestamp").to_pylist()
    # ledger windows: the collector's receive minute (the Kafka record minute when undecodable)
    kafka_minutes = [us // 60_000_000 for us in batch.column("timestamp").cast(pa.int64()).to_pylist()]
    rows: list[dict[str, Any]] = []
    stages: Counter[str] = Counter()
    windows: Counter[str] = Counter()
    kafka: Counter[str] = Counter()
    for i, ((kind, cols, stage), topic, partition, offset, stamp, km) in enumerate(
        zip(results, topics, partitions, offsets, stamps, kafka_minutes, strict=True)
    ):
        stages[stage or "other"] += 1
        rm = cols.get("received_ms")
        windows[f"{topic}|{rm // 60_000 if rm else km}|{stage or 'other'}"] += 1
        kafka[f"{topic}|{km}"] += 1
        cols.update(kind=kind, wm_ts=stamp, kafka_topic=topic, kafka_partition=partition, kafka_offset=offset)
        if kind == "event":
            cols["dedup_key"] = cols["event_id"]
        else:
            cols["dedup_key"] = f"dlq/{topic}/{partition}/{offset}"
            raw = value_at(i) or b""
            cols["raw"] = raw[:RAW_CAP]
            cols["counts"] = "1" if len(raw) > RAW_CAP else "0"  # raw_truncated
        rows.append(cols)
    received = batch.num_rows
    invalid = {k: v for k, v in stages.items() if k not in ("valid", "late")}
    decoded = received - sum(v for k, v in invalid.items() if k in _UNDECODED)
    counts: dict[str, Any] = {
        "received": received,
        "decoded": decoded,
        "valid": stages["valid"],
        "late": stages["late"],
        "invalid": invalid,
        "windows": dict(windows),  # "<topic>|<receive minute>|<stage>" -> records
        "kafka": dict(kafka),  # "<topic>|<Kafka record minute>" -> records
    }
    if new_versions:
        counts["new_versions"] = dict(new_versions)  # decoded by the codec: the JVM plan lacks them
    rows.append(
        {
            "kind": "count",
            "dedup_key": f"count/{topics[0]}/{partitions[0]}/{offsets[0]}/{received}",
            "wm_ts": datetime.now(tz=UTC),
            "counts": _DUMPS(counts),
        }
    )
    arrays = []
    for name, arrow_type, _ in OUTPUT_FIELDS:
        column = pa.array([r.get(name) for r in rows], type=arrow_type)
        if name == "payload" and jvm_payload is not None:
            from_jvm = pa.array([r.get("payload") == _FROM_JVM for r in rows], type=pa.bool_())
            column = pc.call_function(
                "if_else", [from_jvm, pa.concat_arrays([jvm_payload, pa.nulls(1, pa.string())]), column]
            )
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=OUTPUT_ARROW_SCHEMA)


def _received_or_none(record: dict[str, Any]) -> int | None:
    try:
        return validation.received_ms(record)
    except (KeyError, TypeError, ValueError):
        return None


_UNDECODED = frozenset({"undecodable", "unknown_schema_version", "unknown_event_type", "schema_violation"})
