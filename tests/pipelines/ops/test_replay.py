"""Replay into Kafka: a lake time range and a collector journal, deduplicated by event id, with a dry run."""

from __future__ import annotations

from collections import Counter

import pytest

from pipelines.batch.generate import GenerateOptions, generate_rows, write_lake
from pipelines.collector.journal import Entry, Journal
from pipelines.contracts.codec import Codec
from pipelines.contracts.registry import GlueSchemaRegistry, current_versions
from pipelines.contracts.samples import generate, message_key
from pipelines.ops import replay
from tests.pipelines.collector.conftest import consume, sync_namespaced_topics
from tests.s3 import s3_copy_of

pytestmark = pytest.mark.engines
START = 1_795_000_000_000  # 2026-11-18T...


@pytest.fixture
def setup(local_engines, glue, namespace):
    registry = GlueSchemaRegistry(glue, f"reg-{namespace}")
    codec = Codec(registry, current_versions(registry.register_all()))
    sync_namespaced_topics(local_engines.kafka_bootstrap, namespace)
    return local_engines.kafka_bootstrap, codec, namespace


def _event_topics(ns: str) -> list[str]:
    return [
        f"{ns}.events.{t}"
        for t in ("page_view", "chart_interaction", "product_impression", "affiliate_click", "conversion")
    ]


def test_lake_range_replays_each_event_once_and_skip_existing_makes_a_second_run_a_no_op(setup, tmp_path):
    bootstrap, codec, ns = setup
    rows = generate_rows(GenerateOptions(sessions=6, seed=3, start_ms=START, duplicate_rate=0.2))
    write_lake(rows, tmp_path / "lake")
    from_ms, to_ms = START, START + 10 * 60_000
    in_range = [r for r in rows if from_ms <= r["event_time_ms"] < to_ms]
    unique = {r["event_id"] for r in in_range}
    assert len(in_range) > len(unique)  # the lake holds repeats (duplicate_rate)

    dry = replay.replay_lake(tmp_path / "lake", from_ms, to_ms, bootstrap, codec, topic_prefix=f"{ns}.", dry_run=True)
    assert (dry.read, dry.duplicates, sum(dry.produced.values())) == (
        len(in_range),
        len(in_range) - len(unique),
        len(unique),
    )

    seen: list[dict] = []
    report = replay.replay_lake(
        tmp_path / "lake", from_ms, to_ms, bootstrap, codec, topic_prefix=f"{ns}.", progress=seen.append, every=10
    )
    assert report.failed == 0
    assert sum(report.produced.values()) == len(unique)
    assert seen  # progress lines
    records = consume(bootstrap, _event_topics(ns), codec)  # to the high watermarks
    assert Counter(r["event_id"] for _, _, r, _ in records) == Counter(unique)  # once each; the dry run sent nothing
    by_id = {r["event_id"]: (t, k) for t, k, r, _ in records}
    click = next(r for r in in_range if r["event_type"] == "affiliate_click")
    assert by_id[click["event_id"]] == (f"{ns}.events.affiliate_click", click["session_id"].encode())

    again = replay.replay_lake(
        tmp_path / "lake", from_ms, to_ms, bootstrap, codec, topic_prefix=f"{ns}.", skip_existing=True
    )
    assert (again.read, again.existing, sum(again.produced.values())) == (len(in_range), len(in_range), 0)


def test_a_lake_range_reads_the_same_from_the_streams_s3_lake(local_engines, tmp_path, monkeypatch):
    rows = generate_rows(GenerateOptions(sessions=6, seed=3, start_ms=START, duplicate_rate=0.2))
    write_lake(rows, tmp_path / "lake")
    s3 = s3_copy_of(tmp_path / "lake", local_engines.moto_url, monkeypatch)
    from_ms, to_ms = START, START + 10 * 60_000
    on_s3 = list(replay.lake_events(s3, from_ms, to_ms))
    assert on_s3 == list(replay.lake_events(tmp_path / "lake", from_ms, to_ms))
    assert sorted(r["event_id"] for _, r in on_s3) == sorted(
        r["event_id"] for r in rows if from_ms <= r["event_time_ms"] < to_ms
    )


def test_journal_replay_delivers_undelivered_frames_once_and_commits_the_cursor(setup, tmp_path):
    bootstrap, codec, ns = setup
    samples = [s for s in generate(3, seed=8) if s.event_type == "page_view"]
    entries = [
        Entry(
            f"{ns}.events.page_view", message_key(s.event_type, s.record).encode(), codec.encode("page_view", s.record)
        )
        for s in samples
    ]
    journal = Journal(tmp_path / "journal", max_bytes=1 << 20)
    journal.append([*entries, entries[0]])  # a repeat: a frame spilled twice
    journal.close()

    dry = replay.replay_journal(tmp_path / "journal", bootstrap, codec, dry_run=True)
    assert (dry.read, dry.duplicates, sum(dry.produced.values())) == (len(entries) + 1, 1, len(entries))
    assert not Journal(tmp_path / "journal", max_bytes=1 << 20).is_empty()  # a dry run leaves the cursor

    report = replay.replay_journal(tmp_path / "journal", bootstrap, codec)
    assert (report.failed, sum(report.produced.values()), report.duplicates) == (0, len(entries), 1)
    assert Journal(tmp_path / "journal", max_bytes=1 << 20).is_empty()
    records = consume(bootstrap, [f"{ns}.events.page_view"], codec, expected=len(entries))
    assert sorted(r["event_id"] for _, _, r, _ in records) == sorted(s.record["event_id"] for s in samples)


def test_cli_names_a_bad_range_and_an_unknown_event_type(local_engines, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("AA_GLUE_ENDPOINT", local_engines.moto_url)
    args = ["lake", "--lake-dir", str(tmp_path), "--bootstrap-servers", local_engines.kafka_bootstrap]
    assert replay.main([*args, "--from", "2026-11-25", "--to", "2026-11-24"]) == 2
    assert "--to 2026-11-24 is not after --from 2026-11-25" in capsys.readouterr().err
    assert replay.main([*args, "--from", "2026-11-24", "--to", "2026-11-25", "--event-type", "pageview"]) == 2
    assert "--event-type pageview: allowed affiliate_click" in capsys.readouterr().err
