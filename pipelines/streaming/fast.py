"""The fast path's one pass in Python: whole Arrow batches, no Python per valid record.

After the JVM decode (``decode.decode_columns``: the record's rule fields as columns, its JSON as
``payload``), :func:`decode_fast_batches` builds the same OUTPUT rows as the per-record reference
(``processing.decode_jvm_batches``), column by column:

- **validation**: a vectorised predicate (pyarrow compute) that holds only when every rule of
  ``validation.check`` passes. Rows it does not vouch for (and rows the JVM did not decode) take
  the per-record reference path, which gives the typed reason and detail; so the predicate only
  has to be *sound* (true ⇒ the reference finds the event valid), never complete;
- **enrichment** on distinct values: ua-parser and the bot lists run once per distinct user agent,
  the channel once per distinct (UTM source, medium, referrer, page URL, click id) combination,
  date/hour once per distinct hour, each mapped back with an Arrow ``take``;
- the batch's **count row** (received, decoded, valid, late, invalid by reason, receive/Kafka
  minute windows) from Arrow group-bys.

Records whose JSON carries U+FFFD (Java's replacement of invalid UTF-8, which the codec
dead-letters) also go to the reference path, so the codec decides them.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as _compute

from pipelines.streaming import enrichment, validation
from pipelines.streaming.arrow_sink import first_rows, row_key
from pipelines.streaming.processing import (
    _DUMPS,
    _UNDECODED,
    OUTPUT_ARROW_SCHEMA,
    OUTPUT_FIELDS,
    DecodeParams,
    _hour_parts,
    _output,
    _version_str,
    jvm_row_results,
)

pc: Any = _compute  # its functions are generated at import: typed as Any for the checkers
_UUID_RE = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_BROWSER_TYPES = ("page_view", "product_impression", "chart_interaction", "affiliate_click")


def _col(batch: pa.RecordBatch, *path: str) -> pa.Array:
    return batch.column("f_" + "__".join(path))


def _all(*masks: Any) -> Any:
    out = masks[0]
    for m in masks[1:]:
        out = pc.and_kleene(out, m)
    return out


def _is(values: pa.Array, allowed: Iterable[str]) -> Any:
    return pc.is_in(values, value_set=pa.array(sorted(allowed), type=pa.string()))


def valid_mask(batch: pa.RecordBatch, now_ms: int, policy: validation.Policy) -> pa.Array:
    """True where the JVM decoded the record and every rule of ``validation.check`` passes (null
    and false: let the reference decide). Mirrors ``validation._business`` and ``check``."""
    et = batch.column("jvm_type")
    tol = policy.future_tolerance_ms
    uuid_ok = pc.match_substring_regex(_col(batch, "event_id"), _UUID_RE)
    # conversions: no context; their received time is top-level
    c_received = _col(batch, "collector_received_at")
    conversion = _all(
        pc.equal(et, "conversion"),
        pc.match_substring_regex(_col(batch, "currency"), r"^[A-Z]{3}$"),
        pc.greater_equal(_col(batch, "sale_amount"), 0),
        pc.greater_equal(_col(batch, "commission_amount"), 0),
        _is(_col(batch, "status"), validation.KNOWN_CONVERSION_STATUSES),
        pc.less_equal(c_received, now_ms + tol),
        pc.greater(c_received, 0),
        pc.greater_equal(_col(batch, "occurred_at"), 0),
        pc.less_equal(_col(batch, "occurred_at"), pc.add(c_received, tol)),
    )
    received = _col(batch, "context", "collector_received_at")
    created, sent = _col(batch, "context", "device_created_at"), _col(batch, "context", "device_sent_at")
    event_ms = pc.subtract(pc.add(created, received), sent)
    clicks_or_impressions = _is(et, ("affiliate_click", "product_impression"))
    browser = _all(
        _is(et, _BROWSER_TYPES),
        pc.greater_equal(_col(batch, "context", "session_index"), 1),
        pc.starts_with(_col(batch, "context", "page_path"), "/"),
        _is(_col(batch, "context", "device_class"), validation.KNOWN_DEVICE_CLASSES),
        pc.or_kleene(pc.invert(clicks_or_impressions), pc.greater_equal(_col(batch, "position"), 1)),
        pc.or_kleene(
            pc.not_equal(et, "affiliate_click"), pc.greater(pc.utf8_length(_col(batch, "destination_domain")), 0)
        ),
        pc.or_kleene(pc.not_equal(et, "chart_interaction"), _is(_col(batch, "action"), validation.KNOWN_CHART_ACTIONS)),
        pc.less_equal(received, now_ms + tol),
        pc.less_equal(created, pc.add(sent, tol)),
        pc.less_equal(pc.subtract(received, event_ms), policy.max_delay_ms),
        pc.greater_equal(event_ms, 0),  # Arrow's division truncates: equal to // for non-negative times only
        pc.greater(received, 0),
    )
    ok = _all(pc.is_valid(et), uuid_ok, pc.or_kleene(conversion, browser))
    ok = pc.and_kleene(ok, pc.invert(pc.match_substring(batch.column("payload"), "\ufffd")))
    return pc.fill_null(ok, False)


def _map_distinct(values: pa.Array, fn: Callable[[Any], Any], out_type: pa.DataType) -> pa.Array:
    """``fn`` applied once per distinct value of ``values`` and mapped back to every row."""
    encoded = values.dictionary_encode()
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    mapped = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], type=out_type)
    return mapped.take(encoded.indices)


def _valid_events(batch: pa.RecordBatch) -> dict[str, pa.Array]:
    """OUTPUT columns of rows ``valid_mask`` vouched for (``batch`` holds only those)."""
    n = batch.num_rows
    et = batch.column("jvm_type")
    conv = pc.fill_null(pc.equal(et, "conversion"), False)
    received = pc.if_else(conv, _col(batch, "collector_received_at"), _col(batch, "context", "collector_received_at"))
    created, sent = _col(batch, "context", "device_created_at"), _col(batch, "context", "device_sent_at")
    browser_ms = pc.subtract(pc.add(created, _col(batch, "context", "collector_received_at")), sent)
    event_ms = pc.cast(pc.if_else(conv, _col(batch, "occurred_at"), browser_ms), pa.int64())
    hours = pc.divide(event_ms, 3_600_000)
    date = _map_distinct(hours, lambda h: _hour_parts(h)[0], pa.string())
    hour = _map_distinct(hours, lambda h: _hour_parts(h)[1], pa.string())
    ua = pc.fill_null(_col(batch, "context", "user_agent"), "")  # None and "" are both "no user agent"
    ua_encoded = ua.dictionary_encode()
    devices = [enrichment.parse_user_agent(u) for u in ua_encoded.dictionary.to_pylist()]
    ua_codes = ua_encoded.indices

    def device_col(attr: str) -> pa.Array:
        col = pa.array([getattr(d, attr) for d in devices], type=pa.string()).take(ua_codes)
        return pc.if_else(conv, pa.scalar(None, pa.string()), col)

    ua_reasons = _map_distinct(ua, lambda u: ",".join(enrichment.user_agent_bot_reasons(u)), pa.string())
    vw, vh = _col(batch, "context", "viewport_width"), _col(batch, "context", "viewport_height")
    no_viewport = pc.fill_null(
        pc.or_kleene(pc.fill_null(pc.equal(vw, 0), True), pc.fill_null(pc.equal(vh, 0), True)), True
    )
    with_viewport = pc.if_else(
        pc.equal(ua_reasons, ""), "no_viewport", pc.binary_join_element_wise(ua_reasons, "no_viewport", ",")
    )
    bot = pc.if_else(no_viewport, with_viewport, ua_reasons)
    bot = pc.if_else(conv, "", bot)
    click_ids = [_col(batch, "context", k) for k in ("gclid", "msclkid", "fbclid")]
    has_click = pc.fill_null(
        pc.or_kleene(
            pc.or_kleene(pc.greater(pc.utf8_length(click_ids[0]), 0), pc.greater(pc.utf8_length(click_ids[1]), 0)),
            pc.greater(pc.utf8_length(click_ids[2]), 0),
        ),
        False,
    )
    channel_cols = [
        _col(batch, "context", "utm", "source"),
        _col(batch, "context", "utm", "medium"),
        _col(batch, "context", "referrer"),
        _col(batch, "context", "page_url"),
    ]
    combos = row_key(*channel_cols, has_click).dictionary_encode()
    rows = first_rows(combos.indices, len(combos.dictionary))
    picked = [c.take(pa.array(rows, pa.int64())).to_pylist() for c in channel_cols]
    clicked = has_click.take(pa.array(rows, pa.int64())).to_pylist()
    channels = pa.array(
        [enrichment.classify_channel(*vals, bool(clk)) for *vals, clk in zip(*picked, clicked, strict=True)],
        type=pa.string(),
    ).take(combos.indices)
    channel = pc.if_else(conv, "postback", channels)
    version = _map_distinct(batch.column("version_hex"), _version_str, pa.string())
    nulls_s = pa.nulls(n, pa.string())
    return {
        "kind": pa.array(["event"] * n, pa.string()),
        "dedup_key": _col(batch, "event_id"),
        "wm_ts": batch.column("timestamp"),
        "event_type": et,
        "event_id": _col(batch, "event_id"),
        "session_id": _col(batch, "context", "session_id"),
        "visitor_id": _col(batch, "context", "visitor_id"),
        "site_id": _col(batch, "context", "site_id"),
        "page_path": _col(batch, "context", "page_path"),
        "event_time_ms": event_ms,
        "received_ms": pc.cast(received, pa.int64()),
        "minute": pc.divide(event_ms, 60_000),
        "date": date,
        "hour": hour,
        "kafka_topic": batch.column("topic"),
        "kafka_partition": batch.column("partition"),
        "kafka_offset": batch.column("offset"),
        "schema_version_id": version,
        "device_type": device_col("device_type"),
        "browser": device_col("browser"),
        "os": device_col("os"),
        "bot_reasons": bot,
        "channel": channel,
        "link_id": _col(batch, "link_id"),
        "merchant": _col(batch, "merchant"),
        "product_id": _col(batch, "product_id"),
        "position": _col(batch, "position"),
        "payload": batch.column("payload"),
        "facts": batch.column("facts"),
        "dlq_reason": nulls_s,
        "dlq_detail": nulls_s,
        "raw": pa.nulls(n, pa.binary()),
        "counts": nulls_s,
    }


def _reference_results(
    batch: pa.RecordBatch, params: DecodeParams, now_ms: int, new_versions: Counter[str]
) -> list[tuple[str, dict[str, Any], str | None]]:
    """The per-record reference on ``batch``'s rows; a JVM-decoded record whose JSON holds U+FFFD
    (Java replaced invalid UTF-8) goes to the codec, which rejects it as the reference does."""
    payload = batch.column("payload")

    def replaced_utf8(i: int) -> bool:
        text = payload[i].as_py()
        return text is not None and "\ufffd" in text

    return jvm_row_results(batch, params, now_ms, new_versions, replaced_utf8)


def decode_fast_batches(batches: Iterator[pa.RecordBatch], params: DecodeParams) -> Iterator[pa.RecordBatch]:
    """mapInArrow body of the fast path: the same rows and count rows as the reference."""
    for batch in batches:
        if batch.num_rows == 0:
            continue
        now_ms = int(time.time() * 1000)
        ok = valid_mask(batch, now_ms, params.policy)
        fast = batch.filter(ok)
        rest = batch.filter(pc.invert(ok))
        new_versions: Counter[str] = Counter()
        counts: dict[str, Any] = {"valid": 0, "late": 0, "invalid": {}, "windows": {}, "kafka": {}}
        if rest.num_rows:
            results = _reference_results(rest, params, now_ms, new_versions)
            value_column = rest.column("value")

            def value_at(i: int, value_column: pa.Array = value_column) -> bytes | None:
                return value_column[i].as_py()

            slow = _output(rest, value_at, results, rest.column("payload"), new_versions)
            counts = json.loads(slow.column("counts")[slow.num_rows - 1].as_py())
            yield slow.slice(0, slow.num_rows - 1)
        if fast.num_rows:
            cols = _valid_events(fast)
            yield pa.RecordBatch.from_arrays(
                [_typed(cols[n], t) for n, t, _ in OUTPUT_FIELDS], schema=OUTPUT_ARROW_SCHEMA
            )
            _add_valid_counts(counts, fast, cols["received_ms"])
        counts["received"] = batch.num_rows
        counts["decoded"] = batch.num_rows - sum(v for k, v in counts["invalid"].items() if k in _UNDECODED)
        yield _count_row(
            counts,
            batch.column("topic")[0].as_py(),
            batch.column("partition")[0].as_py(),
            batch.column("offset")[0].as_py(),
            batch.num_rows,
        )


def _typed(column: pa.Array, arrow_type: pa.DataType) -> pa.Array:
    return column if column.type == arrow_type else pc.cast(column, arrow_type)


def _add_valid_counts(counts: dict[str, Any], fast: pa.RecordBatch, received_ms: pa.Array) -> None:
    counts["valid"] += fast.num_rows
    windows = Counter(counts["windows"])
    kafka = Counter(counts["kafka"])
    minutes = pc.divide(received_ms, 60_000)
    kafka_minutes = pc.divide(pc.cast(fast.column("timestamp"), pa.int64()), 60_000_000)
    table = pa.table({"t": fast.column("topic"), "m": minutes, "k": kafka_minutes})
    for r in table.group_by(["t", "m"]).aggregate([([], "count_all")]).to_pylist():
        windows[f"{r['t']}|{r['m']}|valid"] += r["count_all"]
    for r in table.group_by(["t", "k"]).aggregate([([], "count_all")]).to_pylist():
        kafka[f"{r['t']}|{r['k']}"] += r["count_all"]
    counts["windows"] = dict(windows)
    counts["kafka"] = dict(kafka)


def _count_row(counts: dict[str, Any], topic: str, partition: int, offset: int, received: int) -> pa.RecordBatch:
    row = {
        "kind": "count",
        "dedup_key": f"count/{topic}/{partition}/{offset}/{received}",
        "wm_ts": datetime.now(tz=UTC),
        "counts": _DUMPS(counts),
    }
    return pa.RecordBatch.from_arrays(
        [pa.array([row.get(n)], type=t) for n, t, _ in OUTPUT_FIELDS], schema=OUTPUT_ARROW_SCHEMA
    )
