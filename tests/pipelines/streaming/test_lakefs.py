"""The lake's one interface over a local folder and S3 (moto): the same writes, listings and deletes."""

from __future__ import annotations

import uuid

import boto3
import pyarrow as pa
import pytest

from pipelines.streaming.lakefs import Lake, LakeUriError


@pytest.fixture(params=["local", "s3"])
def lake(request, tmp_path, monkeypatch):
    if request.param == "local":
        return Lake.at(tmp_path / "lake")
    cfg = request.getfixturevalue("local_engines")
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=cfg.moto_url, region_name="us-east-1").create_bucket(Bucket=bucket)
    return Lake.at(f"s3a://{bucket}/events", endpoint=cfg.moto_url)


def test_writes_lists_reads_and_deletes_the_same_way(lake):
    table = pa.table({"event_id": ["a", "b"], "n": [1, 2]})
    lake.write_parquet("event_type=page_view/date=2026-11-25/hour=13/s1-b000000001-p0000-00000.parquet", table)
    lake.write_parquet("event_type=page_view/date=2026-11-25/hour=13/s1-b000000002-p0000-00000.parquet", table)
    lake.write_json("_commits/s1/batch-000000001.json", {"rows": 2})

    assert lake.exists("_commits/s1/batch-000000001.json")
    assert not lake.exists("_commits/s1/batch-000000002.json")
    assert lake.read_json("_commits/s1/batch-000000001.json") == {"rows": 2}
    assert lake.read_json("_commits/s1/batch-000000009.json") is None
    assert lake.files("event_type=page_view") == [
        "event_type=page_view/date=2026-11-25/hour=13/s1-b000000001-p0000-00000.parquet",
        "event_type=page_view/date=2026-11-25/hour=13/s1-b000000002-p0000-00000.parquet",
    ]
    assert lake.files("event_type=click") == []

    lake.delete(["event_type=page_view/date=2026-11-25/hour=13/s1-b000000002-p0000-00000.parquet"])
    assert lake.files() == [
        "_commits/s1/batch-000000001.json",
        "event_type=page_view/date=2026-11-25/hour=13/s1-b000000001-p0000-00000.parquet",
    ]


def test_a_local_lake_leaves_no_temporary_files(tmp_path):
    lake = Lake.at(tmp_path)
    lake.write_json("_ledger/s1/batch-000000001.json", {"received": 3})
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["batch-000000001.json"]
    assert lake.local_root == tmp_path


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("gs://bucket/x", "lake location 'gs://bucket/x': expected a local path, file://, s3:// or s3a:// URI"),
        ("s3:///events", "lake location 's3:///events': an S3 URI needs a bucket (s3://bucket/prefix)"),
    ],
)
def test_an_unsupported_location_is_refused_with_the_reason(uri, message):
    with pytest.raises(LakeUriError) as err:
        Lake.at(uri)
    assert str(err.value) == message


def test_a_retried_batch_removes_only_what_its_own_earlier_attempt_left(tmp_path):
    from pipelines.streaming.lake import begin_attempt

    lake = Lake.at(tmp_path)
    table = pa.table({"event_id": ["a"]})
    mine = "event_type=page_view/date=2026-11-25/hour=13/s1-b000000007-p0000-00000.parquet"
    other = "event_type=page_view/date=2026-11-25/hour=13/s1-b000000006-p0000-00000.parquet"
    assert begin_attempt(lake, "s1", 7) == 0  # first attempt: nothing to search for
    lake.write_parquet(mine, table)
    lake.write_parquet(other, table)
    # the process died before the commit marker; the retry finds the attempt marker and cleans up
    assert begin_attempt(lake, "s1", 7) == 1
    assert lake.files("event_type=page_view") == [other]
