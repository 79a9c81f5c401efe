"""The default writer's Arrow task body against the per-row reference (``lake.write_partition``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.contracts.samples import generate
from pipelines.segmentation.engine import Segmenter, load_rules, lookup, parse_rules
from pipelines.streaming import arrow_sink, lake
from pipelines.streaming.lakefs import Lake
from pipelines.streaming.processing import OUTPUT_ARROW_SCHEMA, process_decoded
from pipelines.streaming.validation import Policy

_WRITER_INPUT = [f for f in OUTPUT_ARROW_SCHEMA if f.name not in ("kind", "dedup_key", "wm_ts", "counts", "raw")]
RULES = Path(__file__).resolve().parents[3] / "pipelines" / "segmentation" / "rules.yaml"


def _events(sessions: int = 40) -> list[dict[str, Any]]:
    rows = []
    for i, sample in enumerate(generate(sessions, seed=5, start_ms=1_795_000_000_000, returning_rate=0.3)):
        kind, cols, _stage = process_decoded(
            sample.event_type, "version-1", sample.record, 1_900_000_000_000, Policy(10**12, 10**12)
        )
        assert kind == "event"
        cols |= {"kafka_topic": f"events.{sample.event_type}", "kafka_partition": i % 3, "kafka_offset": i}
        if i % 17 == 0 and cols["session_id"]:
            cols["bot_reasons"] = "ua_crawler"  # bots excluded from the human metrics, counted apart
        if i % 23 == 0 and sample.event_type == "page_view":
            cols["site_id"] = None  # no page: counted as an event, not as a page view
        rows.append(cols)
    return rows


def _batches(rows: list[dict[str, Any]], size: int) -> Iterator[pa.RecordBatch]:
    schema = pa.schema(_WRITER_INPUT)
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        yield pa.RecordBatch.from_pylist([{f.name: r.get(f.name) for f in schema} for r in chunk], schema=schema)


def _run(
    body: Any, rows: list[dict[str, Any]], root: Path, segmenter: Any, rate_bots: frozenset, fact_paths: tuple = ()
) -> tuple[Any, Any]:
    params = lake.WriteParams(Lake.at(root), "s1", 7, True, rate_bots, segmenter, fact_paths)
    out = pa.Table.from_batches(list(body(_batches(rows, 50), params)))
    metrics_json = [m for m in out.column("metrics").to_pylist() if m is not None]
    assert len(metrics_json) == 1
    written = dict(zip(out.column("path").to_pylist()[:-1], out.column("rows").to_pylist()[:-1], strict=True))
    table = Lake.at(root).dataset().to_table()
    assert sum(written.values()) == table.num_rows
    lake_rows = sorted(table.to_pylist(), key=lambda r: r["event_id"])
    return json.loads(metrics_json[0]), lake_rows


def _with_facts(rows: list[dict[str, Any]], paths: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows as the fast decode gives them: the rules' record paths as ``facts`` (JSON keyed by the
    path's index, a path the type lacks left out); every third row without (a per-record decode's)."""
    out = []
    for i, row in enumerate(rows):
        record = json.loads(row["payload"])
        facts = {str(j): lookup({"e": record}, f"e.{p}") for j, p in enumerate(paths)}
        facts = {k: v for k, v in facts.items() if v is not None or i % 2}  # "absent" and null alike
        out.append({**row, "facts": None if i % 3 == 0 else json.dumps(facts)})
    return out


@pytest.mark.parametrize("rules", ["default", "default_facts", "none", "record_path"])
def test_arrow_writer_gives_the_reference_rows_and_metrics(
    tmp_path: Path, rules: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _events()
    sessions = sorted({r["session_id"] for r in rows if r["session_id"]})
    visitors = sorted({r["visitor_id"] for r in rows if r["visitor_id"]})
    rate_bots = frozenset((r["session_id"], r["minute"]) for r in rows[5:60:7] if r["session_id"])
    segmenter = None
    fact_paths: tuple[str, ...] = ()
    if rules.startswith("default"):
        profiles = {v: {"visitor_id": v, "lifetime_orders": i % 3} for i, v in enumerate(visitors[:10])}
        segmenter = Segmenter(
            load_rules(RULES), profiles, {s: ("researcher",) if i % 2 else ("bouncer", "deal_seeker")
                                          for i, s in enumerate(sessions[:9])}
        )  # fmt: skip
        table = pa.Table.from_batches(list(_batches(rows, 500)))
        assert arrow_sink.segment_codes(table, pa.array([False] * len(rows)), segmenter) is not None  # no fallback
        if rules == "default_facts":  # the decode's facts carry the paths (and one the rules do not read)
            fact_paths = ("context.page_title", *load_rules(RULES).event_paths())
            rows = _with_facts(rows, fact_paths)
            monkeypatch.setattr(arrow_sink, "_payload_paths", lambda *_: pytest.fail("the payload was parsed"))
    elif rules == "record_path":  # a whole record named: the per-row path decides
        segmenter = Segmenter(
            parse_rules(
                "version: 1\nrules:\n  - {name: tagged, when: {field: event.context.utm, op: exists, value: true}}\n"
            ),
            {},
        )
        assert (
            arrow_sink.segment_codes(
                pa.Table.from_batches(list(_batches(rows, 500))), pa.array([False] * len(rows)), segmenter
            )
            is None
        )
    want_metrics, want_rows = _run(lake.write_partition, rows, tmp_path / "reference", segmenter, rate_bots)
    got_metrics, got_rows = _run(arrow_sink.write_partition, rows, tmp_path / "arrow", segmenter, rate_bots, fact_paths)
    assert got_rows == want_rows
    assert got_metrics == want_metrics
    # the workload exercises what it should
    assert any(r["is_bot"] and "rate" in r["bot_reasons"] for r in want_rows)
    assert any(r["bot_reasons"] == "ua_crawler" for r in want_rows)
    if rules.startswith("default"):
        assert {s for r in want_rows for s in r["segments"]} >= {
            "deal_seeker",
            "returning_visitor",
            "high_intent",
            "researcher",
            "bouncer",
        }
        assert any(k.endswith(":segsess:returning_visitor") for k in want_metrics["hll"])
    counters = want_metrics["counters"]
    assert any(":clk:pos" in k for k in counters)
    assert any(":conv" in k for k in counters)
    assert any(k.endswith(":bot") for k in counters)
    assert any(k.startswith("lw:") for k in counters)


def test_arrow_writer_replaying_a_committed_batch_writes_no_files(tmp_path: Path) -> None:
    rows = _events(8)
    params = lake.WriteParams(Lake.at(tmp_path), "s1", 3, False, frozenset(), None)
    out = pa.Table.from_batches(list(arrow_sink.write_partition(_batches(rows, 10), params)))
    assert out.column("path").to_pylist() == [None]
    assert json.loads(out.column("metrics")[0].as_py())["counters"]
    assert not any(tmp_path.rglob("*.parquet"))


def test_the_plan_extracts_the_record_paths_the_rules_read_and_a_rules_change_asks_for_a_new_plan(tmp_path: Path):
    """The decode's ``facts`` hold the paths the rules read when the query starts; a rules file that
    reads another path marks the writer stale (``job.run`` restarts the query) — once."""
    from pipelines.streaming import job
    from pipelines.streaming.config import load_config

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.read_text())
    cfg = load_config(lake_dir=tmp_path / "lake", checkpoint_dir=tmp_path / "ckpt", rules_file=rules)
    paths = job.rule_fact_paths(cfg)
    assert paths == ("context.session_index", "context.utm.campaign", "field", "position")
    assert job.rule_fact_paths(cfg.model_copy(update={"fast_path": False})) == ()
    writer = job.BatchWriter(cfg, "s1", fact_paths=paths)
    writer._note_rule_paths(writer.segmenter(), 1)
    assert not writer.stale_facts
    rules.write_text(
        RULES.read_text()
        + "  - name: long_title\n    when: {field: event.context.page_title, op: contains, value: best}\n"
    )
    segmenter = writer.segmenter()  # reloaded: the file changed
    assert "long_title" in [r.name for r in segmenter.rules.rules]
    writer._note_rule_paths(segmenter, 2)
    assert writer.stale_facts
    # meanwhile the writer reads the new path from the payload: same segments as the per-row reference
    rows = _events(6)
    table = pa.Table.from_batches(list(_batches(rows, 100)))
    coded = arrow_sink.segment_codes(table, pa.array([False] * len(rows)), segmenter, paths)
    assert coded is not None
    codes, lists = coded
    assigned = [lists[c] for c in codes.to_pylist()]
    assert assigned == [segmenter.segments_for_row({**r, "is_bot": False}) for r in rows]
    assert any("long_title" in segs for segs in assigned)  # the coffee site's titles do not match
    assert not all("long_title" in segs for segs in assigned)
