"""The batch runner: schedules, backfill windows, reports; and a real idempotent backfill."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from pipelines.batch import runner


def test_hourly_builds_without_unit_tests_and_daily_adds_freshness_and_docs():
    assert [c.args for c in runner.plan("hourly")] == [("build", "--exclude", "test_type:unit")]
    assert [c.label for c in runner.plan("daily")] == ["source freshness", "build", "docs"]
    with pytest.raises(ValueError, match="unknown schedule 'weekly'"):
        runner.plan("weekly")


def test_backfill_windows_cover_the_inclusive_range_in_chunks():
    assert runner.backfill_windows(date(2026, 11, 1), date(2026, 11, 5), chunk_days=2) == [
        (date(2026, 11, 1), date(2026, 11, 3)),
        (date(2026, 11, 3), date(2026, 11, 5)),
        (date(2026, 11, 5), date(2026, 11, 6)),
    ]
    with pytest.raises(ValueError, match="before --from"):
        runner.backfill_windows(date(2026, 11, 5), date(2026, 11, 1))
    command = runner.backfill_command((date(2026, 11, 1), date(2026, 11, 2)))
    assert json.loads(command.args[-1]) == {"backfill_from": "2026-11-01", "backfill_to": "2026-11-02"}


def test_summarize_reads_statuses_failures_and_rows_from_run_results():
    results = {
        "results": [
            {"unique_id": "model.p.attribution", "status": "success", "adapter_response": {"rows_affected": 7}},
            {"unique_id": "test.p.unique_x", "status": "fail", "message": "Got 2 results"},
            {"unique_id": "test.p.not_null_y", "status": "pass"},
        ]
    }
    step = runner.summarize("build", ["build"], 1, 1.234, results)
    assert step.statuses == {"fail": 1, "pass": 1, "success": 1}
    assert step.models == {"attribution": "success"}
    assert step.rows == {"attribution": 7}
    assert step.failures == ["test.p.unique_x: Got 2 results"]
    assert step.seconds == 1.23


def test_execute_stops_at_the_first_failure_and_skips_snowflake_only_steps_locally(tmp_path: Path):
    seen: list[str] = []

    def fake(command: runner.DbtCommand, target: str, work: Path) -> runner.StepResult:
        seen.append(command.label)
        return runner.StepResult(command.label, list(command.args), 1 if command.label == "build" else 0, 0.1)

    lines: list[str] = []
    report = runner.execute("run daily", runner.plan("daily"), "local", tmp_path, runner=fake, progress=lines.append)
    assert seen == ["build"]
    assert not report.ok
    assert lines[0] == "[1/2] build ..."
    path = runner.write_report(report, tmp_path / "reports")
    assert json.loads(path.read_text())["steps"][0]["exit_code"] == 1
