"""Checkpoint verify/repair on a checkpoint laid out as Spark writes it, with the lake and Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from pipelines.ops import checkpoint
from pipelines.streaming.lake import lake_schema
from pipelines.streaming.lakefs import Lake
from tests.pipelines.ops.test_redis_state import _row
from tests.s3 import s3_copy_of

pytestmark = pytest.mark.engines
SID = "0a1b2c3d4e5f"


def _entry(path: Path, *lines: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("v1\n" + "\n".join(json.dumps(x) for x in lines))
    (path.parent / f".{path.name}.crc").write_bytes(b"crc")


def _layout(tmp: Path, batches: int) -> tuple[Path, Path]:
    ckpt, lake = tmp / "ckpt", tmp / "lake"
    (ckpt).mkdir(parents=True)
    (ckpt / "aa-stream-id").write_text(SID)
    for n in range(batches):
        _entry(ckpt / "offsets" / str(n), {"batchWatermarkMs": 0}, {"events.page_view": {"0": 10 * (n + 1)}})
        _entry(ckpt / "commits" / str(n), {"nextBatchWatermarkMs": 0})
        part = lake / "event_type=page_view" / "date=2026-11-25" / "hour=10"
        part.mkdir(parents=True, exist_ok=True)
        row = _row(f"e{n}", "page_view", 29_930_000)
        pq.write_table(pa.Table.from_pylist([row], schema=lake_schema()), part / f"{SID}-b{n:09d}-p0000-00000.parquet")
        ledger = {"stream_id": SID, "batch_id": n, "processed_at": "2026-11-25T10:00:00+00:00", "written": 1}
        for sub, doc in (("_commits", {"batch_id": n, "rows": 1}), ("_ledger", ledger)):
            f = lake / sub / SID / f"batch-{n:09d}.json"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(doc))
    return ckpt, lake


def test_a_healthy_checkpoint_and_a_crash_between_a_sink_and_sparks_commit_are_healthy(tmp_path):
    ckpt, lake = _layout(tmp_path, 3)
    report = checkpoint.inspect(ckpt, lake)
    assert report.as_dict() == {
        "stream_id": SID, "batches": 3, "last_whole_batch": 2, "corrupt": [], "tail": [],
        "lake_ahead": [], "redis_ahead": [], "healthy": True,
    }  # fmt: skip
    _entry(ckpt / "offsets" / "3", {"batchWatermarkMs": 0}, {"events.page_view": {"0": 40}})
    (lake / "_commits" / SID / "batch-000000003.json").write_text("{}")
    report = checkpoint.inspect(ckpt, lake)
    assert (report.tail, report.lake_ahead, report.healthy) == (["offsets/3"], [3], True)  # Spark replays 3 as planned


def test_repair_quarantines_the_torn_tail_and_rolls_the_lake_and_redis_back(local_engines, namespace, tmp_path):
    ckpt, lake = _layout(tmp_path, 3)
    (ckpt / "offsets" / "2").write_bytes(b'v1\n{"batchWatermarkMs":0,\x00')
    client = redis.Redis.from_url(local_engines.redis_url)
    for n in range(3):
        client.set(f"{namespace}:batch:{SID}:{n}", "{}")
    report = checkpoint.inspect(ckpt, lake, client, namespace)
    assert report.corrupt == ["offsets/2"]
    assert report.last_whole == 1
    assert report.tail == ["offsets/2", "commits/2"]
    assert (report.lake_ahead, report.redis_ahead, report.healthy) == ([2], [2], False)
    assert checkpoint.main(["verify", "--checkpoint-dir", str(ckpt), "--lake-dir", str(lake)]) == 1

    planned = checkpoint.repair(ckpt, lake, client, namespace, dry_run=True)
    assert (planned["quarantined"], planned["lake_files_removed"], planned["redis_rebuilt"]) == (
        ["offsets/2", "commits/2"], 1, True
    )  # fmt: skip
    assert (ckpt / "offsets" / "2").exists()  # a dry run moves nothing

    done = checkpoint.repair(ckpt, lake, client, namespace)
    quarantine = Path(done["quarantine_dir"])
    assert sorted(p.relative_to(quarantine).as_posix() for p in quarantine.rglob("*")) == [
        "commits", "commits/.2.crc", "commits/2", "offsets", "offsets/.2.crc", "offsets/2"
    ]  # fmt: skip
    assert sorted(p.name for p in lake.rglob(f"{SID}-b*.parquet")) == [
        f"{SID}-b000000000-p0000-00000.parquet", f"{SID}-b000000001-p0000-00000.parquet"
    ]  # fmt: skip
    assert not (lake / "_commits" / SID / "batch-000000002.json").exists()
    assert not (lake / "_ledger" / SID / "batch-000000002.json").exists()
    # Redis rebuilt from the lake: batches 0 and 1 only
    assert client.get(f"{namespace}:batch:{SID}:2") is None
    assert client.get(f"{namespace}:batch:{SID}:1") == b'{"written": 1}'
    assert client.hget(f"{namespace}:ledger:total", "written") == b"2"
    assert checkpoint.inspect(ckpt, lake, client, namespace).healthy


def test_repair_works_in_place_on_the_clouds_s3_checkpoint_and_lake(local_engines, namespace, tmp_path, monkeypatch):
    """The cloud's checkpoint and lake are S3 prefixes: verify and repair act on them directly and
    leave them as the local repair leaves a local copy."""
    ckpt, lake = _layout(tmp_path, 3)
    (ckpt / "commits" / "2").write_bytes(b"v1\n{")  # torn commit of batch 2
    s3_ckpt, s3_lake = (
        s3_copy_of(ckpt, local_engines.moto_url, monkeypatch),
        s3_copy_of(lake, local_engines.moto_url, monkeypatch),
    )
    client = redis.Redis.from_url(local_engines.redis_url)
    client.set(f"{namespace}:batch:{SID}:2", "{}")
    assert checkpoint.main(["verify", "--checkpoint-dir", s3_ckpt.uri, "--lake-dir", s3_lake.uri]) == 1

    done = checkpoint.repair(s3_ckpt.uri, s3_lake.uri, client, namespace)
    assert (done["quarantined"], done["lake_files_removed"], done["redis_rebuilt"]) == (
        ["offsets/2", "commits/2"], 1, True
    )  # fmt: skip
    quarantine = Lake.at(done["quarantine_dir"])
    assert quarantine.uri.startswith(s3_ckpt.uri + ".quarantine-")
    assert quarantine.files() == ["commits/.2.crc", "commits/2", "offsets/.2.crc", "offsets/2"]
    assert quarantine.read_bytes("commits/2") == b"v1\n{"
    assert [f for f in s3_lake.files() if f.endswith(".parquet")] == [
        f"event_type=page_view/date=2026-11-25/hour=10/{SID}-b00000000{n}-p0000-00000.parquet" for n in (0, 1)
    ]
    assert s3_lake.files("_commits") == [f"_commits/{SID}/batch-00000000{n}.json" for n in (0, 1)]
    assert s3_lake.files("_ledger") == [f"_ledger/{SID}/batch-00000000{n}.json" for n in (0, 1)]
    assert client.hget(f"{namespace}:ledger:total", "written") == b"2"
    assert checkpoint.inspect(s3_ckpt, s3_lake, client, namespace).healthy
    assert checkpoint.main(["verify", "--checkpoint-dir", s3_ckpt.uri + "-none"]) == 2  # not a checkpoint
