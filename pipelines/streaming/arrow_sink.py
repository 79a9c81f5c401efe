"""The default writer's task body: a Spark partition's events as whole Arrow columns, no Python per row.

Gives exactly what the per-row reference (``lake.write_partition``) gives — the same lake rows and
the same Redis metrics — with the row-wise steps replaced by Arrow kernels and work per *distinct*
value:

- **bot flags**: the batch's rate signal as an ``is_in`` over (session, minute) keys;
- **segments**: the event-scope rules (``pipelines.segmentation.engine``, the one definition)
  evaluated once per distinct combination of the facts they read — event type, enrichment, the
  ``event.*`` paths the rules name (parsed from the payload by Arrow's JSON reader, typed from the
  event schemas), the visitor's profile row and the session's segments — and mapped back with a
  ``take``. Rules naming a path without one primitive type across the schemas (a whole record, a
  union) make the partition take the reference's per-row evaluation;
- **metrics**: ``metrics.Accumulator.add`` once per group of the fields it reads (counters) and once
  per distinct (minute, session, page view page, segments) of the human rows (HyperLogLog members);
- **lake**: one Parquet file per (event type, date, hour) of the partition (the reference writes
  one per Arrow batch of 20,000 rows), named ``<stream>-b<batch>-p<task>-<n>.parquet`` as there.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as _compute
import pyarrow.json as pa_json

from pipelines.segmentation.engine import lookup
from pipelines.streaming import lake, metrics

pc: Any = _compute  # its functions are generated at import: typed as Any for the checkers

_ENRICH = ("device_type", "browser", "os", "channel", "is_bot")
_ARROW_TYPES = {"string": pa.string(), "bigint": pa.int64(), "double": pa.float64(), "boolean": pa.bool_()}
_SEP = "\x1f"


def row_key(*columns: pa.Array) -> pa.Array:
    """One string per row identifying the tuple of ``columns`` (nulls distinct from any string)."""
    parts = []
    for c in columns:
        s = c if pa.types.is_string(c.type) else pc.cast(c, pa.string())
        parts.append(pc.if_else(pc.is_valid(s), pc.binary_join_element_wise("v", s, ""), "n"))
    return pc.binary_join_element_wise(*parts, _SEP) if len(parts) > 1 else parts[0]


def first_rows(codes: pa.Array, distinct: int) -> list[int]:
    """For dictionary codes 0..distinct-1, the first row holding each."""
    if distinct == 0:
        return []
    table = pa.table({"c": codes, "i": pa.array(range(len(codes)), pa.int64())})
    grouped = table.group_by("c").aggregate([("i", "min")])
    by_code = dict(zip(grouped.column("c").to_pylist(), grouped.column("i_min").to_pylist(), strict=True))
    return [by_code[c] for c in range(distinct)]


def bot_flags(table: pa.Table, rate_bots: frozenset[tuple[str, int]]) -> tuple[pa.Array, pa.Array]:
    """``bot_reasons`` with ``rate`` appended for the batch's (session, minute) pairs over the rate
    limit, and ``is_bot`` (any reason)."""
    reasons = pc.fill_null(table.column("bot_reasons"), "")
    if rate_bots:
        keys = pa.array(sorted(f"{s}{_SEP}{m}" for s, m in rate_bots), pa.string())
        mine = pc.binary_join_element_wise(
            table.column("session_id"), pc.cast(table.column("minute"), pa.string()), _SEP
        )
        rate = pc.fill_null(pc.is_in(mine, value_set=keys), False)
        appended = pc.if_else(pc.equal(reasons, ""), "rate", pc.binary_join_element_wise(reasons, "rate", ","))
        reasons = pc.if_else(rate, appended, reasons)
    reasons = reasons.combine_chunks() if isinstance(reasons, pa.ChunkedArray) else reasons
    return reasons, pc.not_equal(reasons, "")


@functools.lru_cache(maxsize=256)
def _schema_type(path: str) -> str | None:
    from pipelines.streaming.sink import _path_type

    return _path_type(path)


def _payload_paths(payload: pa.Array, paths: Sequence[str]) -> dict[str, pa.Array] | None:
    """Each ``paths`` value of every payload (JSON), typed as in the event schemas; None when a
    path has no one primitive type there or a payload does not parse with those types."""
    if not paths:
        return {}
    types: dict[str, pa.DataType] = {}
    for path in paths:
        spark_type = _schema_type(path)
        if spark_type not in _ARROW_TYPES:
            return None
        types[path] = _ARROW_TYPES[spark_type]
    tree: dict[str, Any] = {}
    for path, arrow_type in types.items():
        node = tree
        names = path.split(".")
        for name in names[:-1]:
            nxt = node.setdefault(name, {})
            if not isinstance(nxt, dict):
                return None  # a path and its ancestor both named: the reference reads them as they are
            node = nxt
        if names[-1] in node:
            return None
        node[names[-1]] = arrow_type

    def struct(node: dict[str, Any]) -> pa.StructType:
        return pa.struct([(k, v if isinstance(v, pa.DataType) else struct(v)) for k, v in node.items()])

    text = pc.fill_null(payload, "{}")
    data = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(text)], pa.int32()), text), "\n")[0].as_buffer()
    try:
        parsed = pa_json.read_json(
            pa.BufferReader(data),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=max(data.size + 1, 1 << 20)),
            parse_options=pa_json.ParseOptions(
                explicit_schema=pa.schema(list(struct(tree))), unexpected_field_behavior="ignore"
            ),
        )
    except pa.ArrowInvalid:
        return None
    if parsed.num_rows != len(payload):
        return None
    out: dict[str, pa.Array] = {}
    for path in types:
        names = path.split(".")
        col: Any = parsed.column(names[0]).combine_chunks()
        for name in names[1:]:
            col = pc.struct_field(col, name)
        out[path] = col
    return out


def _set_path(root: dict[str, Any], names: list[str], value: Any) -> None:
    node = root
    for name in names[:-1]:
        node = node.setdefault(name, {})
    node[names[-1]] = value


def _filled_facts(facts: pa.Array, payload: pa.Array, fact_paths: tuple[str, ...]) -> pa.Array:
    """``facts`` with the rows the JVM did not give (the per-record decode's) taken from the payload."""
    texts = facts.to_pylist()
    for i in pc.indices_nonzero(pc.is_null(facts)).to_pylist():
        text = payload[i].as_py()
        doc = json.loads(text) if text else None
        texts[i] = json.dumps({str(j): lookup({"e": doc}, f"e.{p}") for j, p in enumerate(fact_paths)})
    return pa.array(texts, pa.string())


def segment_codes(
    table: pa.Table, is_bot: pa.Array, segmenter: Any, fact_paths: tuple[str, ...] = ()
) -> tuple[pa.Array, list[list[str]]] | None:
    """Per row an index into the returned list of segment lists: what ``Segmenter.segments_for_row``
    gives the row. The record paths the rules read come from the ``facts`` column when the decode
    put them there (``fact_paths``: the paths it holds), else from the payload (``_payload_paths``);
    None when neither serves (the per-row path decides)."""
    n = table.num_rows
    if segmenter is None:
        return pa.array([0] * n, pa.int32()), [[]]
    fields = segmenter.rules.fields("event")
    paths = list(segmenter.rules.event_paths())
    columns: dict[str, pa.Array] = {"event_type": table.column("event_type").combine_chunks()}
    columns |= {f"x_{name}": table.column(name).combine_chunks() for name in _ENRICH if name != "is_bot"}
    columns["x_is_bot"] = is_bot
    from_facts = bool(paths) and set(paths) <= set(fact_paths) and "facts" in table.column_names
    if from_facts:
        facts = table.column("facts").combine_chunks()
        columns["facts"] = _filled_facts(facts, table.column("payload"), fact_paths) if facts.null_count else facts
    else:
        event_values = _payload_paths(table.column("payload").combine_chunks(), paths)
        if event_values is None:
            return None
        columns |= {f"e_{p}": v for p, v in event_values.items()}
    profiles = segmenter.profiles
    if profiles and any(f.startswith("profile.") for f in fields):
        visitor = pc.fill_null(table.column("visitor_id").combine_chunks(), "None")
        columns["profile"] = pc.if_else(
            pc.is_in(visitor, value_set=pa.array(sorted(profiles), pa.string())), visitor, pa.scalar(None, pa.string())
        )
    sessions = segmenter.session_segments
    if sessions:
        session = pc.fill_null(table.column("session_id").combine_chunks(), "None")
        columns["session"] = pc.if_else(
            pc.is_in(session, value_set=pa.array(sorted(sessions), pa.string())), session, pa.scalar(None, pa.string())
        )
    encoded = row_key(*columns.values()).dictionary_encode()
    codes = encoded.indices
    picked = pa.table(columns).take(pa.array(first_rows(codes, len(encoded.dictionary)), pa.int64())).to_pylist()
    lists: list[list[str]] = []
    for facts_row in picked:
        event: dict[str, Any] = {}
        given = json.loads(facts_row["facts"]) if from_facts else {}
        for p in paths:
            value = given.get(str(fact_paths.index(p))) if from_facts else facts_row[f"e_{p}"]
            _set_path(event, p.split("."), value)
        profile_key = facts_row.get("profile")
        doc = {
            "event_type": facts_row["event_type"],
            "event": event if paths else None,
            "enrich": {name: facts_row[f"x_{name}"] for name in _ENRICH},
            "profile": profiles.get(profile_key) if profile_key is not None else None,
        }
        segs = segmenter.rules.evaluate(doc, "event")
        session_key = facts_row.get("session")
        if session_key is not None:
            segs.extend(s for s in sessions[session_key] if s not in segs)
        lists.append(segs)
    return codes, lists


def _counts(columns: dict[str, Any], where: Any) -> list[tuple[Any, ...]]:
    """(values..., rows) per distinct tuple of ``columns`` among the rows of ``where``."""
    table = pa.table(columns).filter(where)
    if table.num_rows == 0:
        return []
    grouped = table.group_by(list(columns), use_threads=False).aggregate([([], "count_all")])
    return list(zip(*(grouped.column(c).to_pylist() for c in grouped.column_names), strict=True))


def _distinct(columns: dict[str, Any], where: Any) -> list[tuple[Any, ...]]:
    table = pa.table(columns).filter(where)
    if table.num_rows == 0:
        return []
    grouped = table.group_by(list(columns), use_threads=False).aggregate([])
    return list(zip(*(grouped.column(c).to_pylist() for c in columns), strict=True))


def _truthy(col: Any) -> Any:
    return pc.fill_null(pc.greater(pc.utf8_length(col), 0), False)


def accumulate(
    table: pa.Table, is_bot: pa.Array, seg_codes: pa.Array, seg_lists: list[list[str]]
) -> metrics.Accumulator:
    """What ``metrics.Accumulator.add`` gives over every row, one Arrow group-by per key family
    (the Python work is per Redis hash field, not per row)."""
    acc = metrics.Accumulator()
    c, hll = acc.counters, acc.hll
    col = {name: table.column(name).combine_chunks() for name in table.column_names}
    et, minute, session = col["event_type"], col["minute"], col["session_id"]
    human = pc.invert(is_bot)
    everyone = pa.array([True] * table.num_rows)
    # the ledger by collector receive minute (pipelines/quality)
    receive = pc.divide(col["received_ms"], 60_000)
    for rm, topic, bot, n in _counts({"rm": receive, "t": col["kafka_topic"], "b": is_bot}, everyone):
        if rm is not None and topic:
            c[f"lw:{rm}"][f"{topic}|written"] += n
            if bot:
                c[f"lw:{rm}"][f"{topic}|bot"] += n
    for m, t, n in _counts({"m": minute, "t": et}, is_bot):
        c[f"m:{m}:bot"][t] += n
    for m, t, n in _counts({"m": minute, "t": et}, human):
        c[f"m:{m}:events"][t] += n
    # add(): page = site_id + page_path when site_id is set (f-string: a missing path reads "None")
    has_page = _truthy(col["site_id"])
    page = pc.if_else(
        has_page, pc.binary_join_element_wise(col["site_id"], pc.fill_null(col["page_path"], "None"), ""), None
    )
    pv = pc.and_(human, pc.equal(et, "page_view"))
    for m, p, n in _counts({"m": minute, "p": page}, pc.and_(pv, has_page)):
        c[f"m:{m}:pv"][p] += n
    for m, p, sid in _distinct({"m": minute, "p": page, "s": session}, pc.and_(pv, has_page)):
        hll[f"m:{m}:sess:{p}"].add(sid)
    imp = pc.and_(pc.and_(human, pc.equal(et, "product_impression")), has_page)
    for m, p, n in _counts({"m": minute, "p": page}, imp):
        c[f"m:{m}:imp"][p] += n
    clicks = pc.and_(human, pc.equal(et, "affiliate_click"))
    for m, p, n in _counts({"m": minute, "p": pc.fill_null(page, "")}, clicks):
        c[f"m:{m}:clk:page"][p] += n
    for m, link, n in _counts({"m": minute, "v": col["link_id"]}, clicks):
        c[f"m:{m}:clk:link"][link] += n
    for m, merchant, n in _counts({"m": minute, "v": col["merchant"]}, clicks):
        c[f"m:{m}:clk:merchant"][merchant] += n
    for m, pos, n in _counts({"m": minute, "v": col["position"]}, clicks):
        c[f"m:{m}:clk:pos"][str(pos)] += n
    conversions = pc.and_(human, pc.equal(et, "conversion"))
    for m, merchant, n in _counts({"m": minute, "v": pc.fill_null(col["merchant"], "")}, conversions):
        c[f"m:{m}:conv"][merchant or ""] += n
    with_session = pc.and_(human, _truthy(session))
    for m, sid in _distinct({"m": minute, "s": session}, with_session):
        hll[f"m:{m}:active"].add(sid)
    if any(seg_lists):
        for m, code, n in _counts({"m": minute, "g": seg_codes}, human):
            for seg in seg_lists[code]:
                c[f"m:{m}:seg"][seg] += n
        for m, code, sid in _distinct({"m": minute, "g": seg_codes, "s": session}, with_session):
            for seg in seg_lists[code]:
                hll[f"m:{m}:segsess:{seg}"].add(sid)
    return acc


def write_partition(batches: Iterator[pa.RecordBatch], params: lake.WriteParams) -> Iterator[pa.RecordBatch]:
    """mapInArrow body over one Spark partition of the batch's valid, deduplicated events: the
    lake files and the partial metrics, as ``lake.write_partition`` gives them."""
    from pyspark import TaskContext

    ctx = TaskContext.get()
    pid = ctx.partitionId() if ctx is not None else 0
    kept = [b for b in batches if b.num_rows]
    paths: list[str] = []
    counts: list[int] = []
    acc = metrics.Accumulator()
    if kept:
        given = pa.Table.from_batches(kept)
        reasons, is_bot = bot_flags(given, params.rate_bots)
        table = given.set_column(given.schema.get_field_index("bot_reasons"), "bot_reasons", reasons)
        coded = segment_codes(table, is_bot, params.segmenter, params.fact_paths)
        if coded is None:  # the reference, per row
            yield from lake.write_partition(iter(kept), params)
            return
        seg_codes, seg_lists = coded
        acc = accumulate(table, is_bot, seg_codes, seg_lists)
        if params.write_files:
            segments = pa.array(seg_lists, pa.list_(pa.string())).take(seg_codes)
            out = table.append_column("is_bot", is_bot).append_column("segments", segments)
            out = out.append_column("stream_batch_id", pa.array([params.batch_id] * out.num_rows, pa.int64()))
            _write_files(out, params, pid, paths, counts)
    yield lake.result_batch(paths, counts, acc.to_json())


def _write_files(table: pa.Table, params: lake.WriteParams, pid: int, paths: list[str], counts: list[int]) -> None:
    schema = lake.lake_schema()
    rows = table.select(lake.LAKE_COLUMNS).cast(schema)
    parts = ["event_type", "date", "hour"]
    keys = table.select(parts)
    groups = keys.group_by(parts, use_threads=False).aggregate([])
    for seq, group in enumerate(sorted(zip(*(groups.column(p).to_pylist() for p in parts), strict=True))):
        event_type, date, hour = group
        mask = pc.and_(
            pc.and_(pc.equal(keys.column("event_type"), event_type), pc.equal(keys.column("date"), date)),
            pc.equal(keys.column("hour"), hour),
        )
        lake.write_file(params, pid, seq, group, rows.filter(mask), paths, counts)
