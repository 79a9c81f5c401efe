"""Redis rebuild from the lake: the stream's key layout from lake rows and ledger files, exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from pipelines.ops import redis_state
from pipelines.streaming.lake import LAKE_COLUMNS, lake_schema
from tests.s3 import s3_copy_of

pytestmark = pytest.mark.engines
SID = "abc123def456"


def _row(event_id: str, event_type: str, minute: int, *, bot: bool = False, payload: dict | None = None) -> dict:
    row = dict.fromkeys(LAKE_COLUMNS)
    row.update(
        event_id=event_id,
        event_type=event_type,
        event_time_ms=minute * 60_000 + 5_000,
        received_ms=minute * 60_000 + 6_000,
        session_id="s1",
        visitor_id="v1",
        site_id="site1",
        page_path="/best-laptops",
        is_bot=bot,
        bot_reasons="ua_crawler" if bot else "",
        segments=["researcher"] if event_type == "affiliate_click" else [],
        payload=json.dumps(payload or {"event_id": event_id}),
        kafka_topic=f"events.{event_type}",
        kafka_partition=0,
        kafka_offset=0,
        stream_batch_id=0,
    )
    return row


def _write(lake: Path, batch: int, rows: list[dict], minute: int) -> None:
    hour = datetime.fromtimestamp(minute * 60, tz=UTC)
    for event_type in sorted({r["event_type"] for r in rows}):
        d = lake / f"event_type={event_type}" / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        d.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist([r for r in rows if r["event_type"] == event_type], schema=lake_schema())
        pq.write_table(table, d / f"{SID}-b{batch:09d}-p0000-00000.parquet")
    commit = lake / "_commits" / SID / f"batch-{batch:09d}.json"
    commit.parent.mkdir(parents=True, exist_ok=True)
    commit.write_text(json.dumps({"batch_id": batch, "rows": len(rows)}))


@pytest.fixture
def lake(tmp_path: Path) -> tuple[Path, int]:
    minute = int(datetime.now(tz=UTC).timestamp()) // 60 - 30
    lake = tmp_path / "lake"
    click = {"event_id": "c1", "link_id": "L7", "merchant": "amazon", "position": 2}
    _write(
        lake,
        0,
        [
            _row("p1", "page_view", minute),
            _row("p2", "page_view", minute, bot=True),
            _row("c1", "affiliate_click", minute, payload=click),
        ],
        minute,
    )
    ledger = lake / "_ledger" / SID / "batch-000000000.json"
    ledger.parent.mkdir(parents=True)
    counts = {"received": 4, "decoded": 4, "valid": 3, "late": 0, "invalid:schema_violation": 1, "duplicate": 0}
    ledger.write_text(
        json.dumps(
            {
                "stream_id": SID,
                "batch_id": 0,
                "processed_at": datetime.now(tz=UTC).isoformat(),
                **counts,
                "written": 3,
                "bot": 1,
                "windows": {f"lw:{minute}": {"events.page_view|valid": 2, "events.page_view|written": 2}},
            }
        )
    )
    _write(lake, 1, [_row("p3", "page_view", minute)], minute)  # committed, never applied: no ledger file
    return lake, minute


def test_rebuild_writes_the_streams_keys_from_applied_batches_only(local_engines, namespace, lake):
    lake_dir, m = lake
    client = redis.Redis.from_url(local_engines.redis_url)
    report = redis_state.rebuild(client, lake_dir, namespace)
    assert (report.rows, report.rows_pending, report.batches, report.pending_batches) == (3, 1, 1, [f"{SID}:1"])
    snap = redis_state.snapshot(client, namespace)
    assert snap == {
        f"m:{m}:events": {"page_view": 1, "affiliate_click": 1},
        f"m:{m}:bot": {"page_view": 1},
        f"m:{m}:pv": {"site1/best-laptops": 1},
        f"m:{m}:sess:site1/best-laptops": {"hll": 1},
        f"m:{m}:active": {"hll": 1},
        f"m:{m}:clk:page": {"site1/best-laptops": 1},
        f"m:{m}:clk:link": {"L7": 1},
        f"m:{m}:clk:merchant": {"amazon": 1},
        f"m:{m}:clk:pos": {"2": 1},
        f"m:{m}:seg": {"researcher": 1},
        f"m:{m}:segsess:researcher": {"hll": 1},
        f"lw:{m}": {"events.page_view|valid": 2, "events.page_view|written": 2},
        "ledger:total": {"received": 4, "decoded": 4, "valid": 3, "invalid:schema_violation": 1, "written": 3, "bot": 1},
        "ledger:<minutes>": {
            "received": 4, "decoded": 4, "valid": 3, "invalid:schema_violation": 1, "written": 3, "bot": 1
        },
        f"batch:{SID}:0": {
            "received": 4, "decoded": 4, "valid": 3, "late": 0, "invalid:schema_violation": 1, "duplicate": 0,
            "written": 3, "bot": 1,
        },
        f"dlq:{SID}:0": 1,
    }  # fmt: skip
    assert 0 < client.ttl(f"{namespace}:m:{m}:events") <= 48 * 3600
    assert client.ttl(f"{namespace}:ledger:total") == -1  # like the stream's: no TTL


def test_rebuild_from_the_streams_s3_lake_equals_the_rebuild_from_a_local_copy(
    local_engines, namespace, lake, monkeypatch
):
    lake_dir, _ = lake
    client = redis.Redis.from_url(local_engines.redis_url)
    redis_state.rebuild(client, lake_dir, namespace, session_state=True)
    from_disk = redis_state.snapshot(client, namespace)
    s3 = s3_copy_of(lake_dir, local_engines.moto_url, monkeypatch)
    report = redis_state.rebuild(client, s3, namespace, session_state=True, force=True)
    assert (report.rows, report.rows_pending, report.pending_batches) == (3, 1, [f"{SID}:1"])
    assert redis_state.snapshot(client, namespace) == from_disk
    assert redis_state.main(["rebuild", "--lake-dir", s3.uri.replace("/events", "/none"), "--prefix", namespace]) == 2


def test_rebuild_refuses_a_prefix_with_keys_unless_forced_and_a_dry_run_writes_nothing(local_engines, namespace, lake):
    lake_dir, _ = lake
    client = redis.Redis.from_url(local_engines.redis_url)
    dry = redis_state.rebuild(client, lake_dir, namespace, dry_run=True)
    assert dry.rows == 3
    assert list(client.scan_iter(f"{namespace}:*")) == []
    client.set(f"{namespace}:stray", "1")
    with pytest.raises(RuntimeError, match="already has keys"):
        redis_state.rebuild(client, lake_dir, namespace)
    redis_state.rebuild(client, lake_dir, namespace, force=True)
    assert client.get(f"{namespace}:stray") is None
    assert redis_state.snapshot(client, namespace)["ledger:total"]["written"] == 3


def test_rows_past_the_ttl_are_skipped_and_session_state_is_optional(local_engines, namespace, lake):
    lake_dir, m = lake
    client = redis.Redis.from_url(local_engines.redis_url)
    report = redis_state.rebuild(client, lake_dir, namespace, ttl_s=60, session_state=True)
    assert (report.rows, report.rows_expired) == (0, 3)
    snap = redis_state.snapshot(client, namespace)
    assert f"m:{m}:events" not in snap
    assert snap["sess:s1"] == {"events": 3, "page_views": 2, "clicks": 1}


def test_snapshot_compare_cli_exits_1_naming_the_differing_key(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"m:1:events": {"page_view": 2}}))
    b.write_text(json.dumps({"m:1:events": {"page_view": 1}}))
    assert redis_state.main(["compare", str(a), str(a)]) == 0
    assert redis_state.main(["compare", str(a), str(b)]) == 1
    assert "m:1:events: before {'page_view': 2}, after {'page_view': 1}" in capsys.readouterr().err
