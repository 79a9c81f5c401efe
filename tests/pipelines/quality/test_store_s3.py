"""The durable ledger in the cloud: AA_QUALITY_LEDGER_URI puts the hourly Parquet files on S3 (moto),
where they outlive the CronJob's pod; the volume baseline and the report read them back."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.quality import monitor, store
from pipelines.quality.config import Locations
from pipelines.streaming.lakefs import Lake
from tests.s3 import new_bucket

pytestmark = pytest.mark.engines


def test_the_ledger_root_can_be_an_s3_prefix(local_engines, monkeypatch, tmp_path: Path):
    bucket = new_bucket(local_engines.moto_url)
    monkeypatch.setenv("AA_AWS_ENDPOINT", local_engines.moto_url)
    monkeypatch.setenv("AA_QUALITY_LEDGER_URI", f"s3://{bucket}/quality/ledger")
    loc = Locations.from_env()
    root = monitor.ledger_root(loc)
    assert isinstance(root, Lake)
    assert root.is_s3

    hour = 493_000
    row = {"minute": hour * 60, "event_type": "page_view", "received": 7, "written": 6, "duplicate": 1}
    where = store.write_rows(root, hour, [row, {**row, "event_type": "conversion", "received": 2}], 0)
    assert where == f"s3://{bucket}/quality/ledger/date=2026-03-29/hour=16.parquet"
    assert root.files() == ["date=2026-03-29/hour=16.parquet"]
    assert store.hourly_volume(root, hour) == {"page_view": 7, "conversion": 2}
    assert store.hourly_volume(root, hour - 168) is None
    assert [(r["event_type"], r["written"], r["status"]) for r in store.read_hours(root, hour - 1, hour)] == [
        ("page_view", 6, "balanced"),
        ("conversion", 6, "balanced"),
    ]
