"""The quality monitor reads the lake where the cloud stream writes it (S3, here moto): every lake
probe gives on an S3 copy exactly what it gives on the local folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines import lake_reader
from pipelines.batch.generate import GenerateOptions, generate_lake
from pipelines.quality import ledger, monitor, monitors
from pipelines.quality.config import Locations
from pipelines.streaming.lakefs import Lake
from tests.s3 import s3_copy_of

pytestmark = pytest.mark.engines


def test_every_lake_probe_reads_an_s3_lake_as_it_reads_the_local_one(local_engines, monkeypatch, tmp_path: Path):
    local = tmp_path / "lake"
    result = generate_lake(GenerateOptions(sessions=60, seed=11), local)
    # two stream ledger files (what pipelines/streaming writes per batch): windows by receive minute
    m0 = result.newest_event_ms // 60_000
    docs = {
        "_ledger/s1/batch-000000001.json": {"windows": {f"lw:{m0}": {"t.page_view|written": 5}}},
        "_ledger/s1/batch-000000002.json": {"windows": {f"lw:{m0 + 1}": {"t.page_view|written": 2}, f"lk:{m0}": {"t.page_view": 7}}},
    }  # fmt: skip
    for rel, doc in docs.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_text(json.dumps(doc))

    s3 = s3_copy_of(local, local_engines.moto_url, monkeypatch)
    bucket = s3.uri.removeprefix("s3a://").split("/", 1)[0]

    start, end = m0 - 6 * 24 * 60, m0 + 60
    on_disk, on_s3 = ledger.read_lake(local, start, end), ledger.read_lake(s3, start, end)
    assert on_s3.counts == on_disk.counts
    assert sum(c["lake.rows"] for c in on_disk.counts.values()) == result.rows
    assert on_s3.measured == on_disk.measured == {"lake"}

    topics = {"t.page_view": "page_view"}
    assert ledger.read_stream_files(s3, start, end, topics).counts == {
        (m0, "page_view"): {"stream.written": 5, "stream.read": 7},
        (m0 + 1, "page_view"): {"stream.written": 2},
    }
    assert (
        ledger.read_stream_files(local, start, end, topics).counts
        == ledger.read_stream_files(s3, start, end, topics).counts
    )

    end_ms = (m0 + 1) * 60_000
    profile = monitors.lake_profile(s3, end_ms - 86_400_000, end_ms)
    assert profile == monitors.lake_profile(local, end_ms - 86_400_000, end_ms)
    assert profile["events"] > 0
    assert profile["device"]
    assert profile["channel"]

    assert monitor.lake_newest(s3) == monitor.lake_newest(local)
    assert monitor.lake_newest(s3) is not None

    # the CronJob's environment: AA_LAKE_DIR is the stream's s3a:// URI (Path would fold its "//")
    monkeypatch.setenv("AA_LAKE_DIR", f"s3a://{bucket}/events")
    monkeypatch.delenv("AA_QUALITY_LEDGER_URI", raising=False)
    loc = Locations.from_env()
    assert lake_reader.present(loc.lake_dir) == s3
    root = monitor.ledger_root(loc)
    assert isinstance(root, Lake)
    assert root.uri == f"s3a://{bucket}/events/_quality/ledger"
    assert lake_reader.present(f"s3://{bucket}/nothing-here") is None
