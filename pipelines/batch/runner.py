"""Batch ETL runner: which dbt commands a schedule or a backfill runs, and the report of a run.

Pure planning (``plan``, ``backfill_windows``, ``summarize``) is separate from running dbt
(``run_dbt``), so the rules are tested without dbt and the runner is tested against real dbt.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DBT_DIR = REPO / "dbt"
SCHEDULES = ("hourly", "daily")


@dataclass(frozen=True)
class DbtCommand:
    """One dbt invocation: ``args`` after ``dbt`` (project/profiles/target flags are added)."""

    label: str
    args: tuple[str, ...]
    snowflake_only: bool = False


@dataclass
class StepResult:
    label: str
    args: list[str]
    exit_code: int
    seconds: float
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)  # model -> status
    rows: dict[str, int] = field(default_factory=dict)  # model -> rows affected, where the adapter reports it


@dataclass
class RunReport:
    kind: str
    target: str
    started_at: str
    seconds: float = 0.0
    ok: bool = True
    steps: list[StepResult] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def plan(schedule: str) -> list[DbtCommand]:
    """Hourly: build staging → marts with their data tests (incremental, lookback window).
    Daily: source freshness (Snowflake), the full build with unit tests, and the docs catalog."""
    if schedule == "hourly":
        return [DbtCommand("build", ("build", "--exclude", "test_type:unit"))]
    if schedule == "daily":
        return [
            DbtCommand("source freshness", ("source", "freshness", "--select", "source:raw"), snowflake_only=True),
            DbtCommand("build", ("build",)),
            DbtCommand("docs", ("docs", "generate")),
        ]
    raise ValueError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")


def backfill_windows(start: date, end: date, chunk_days: int = 1) -> list[tuple[date, date]]:
    """Half-open windows [from, to) covering the days ``start``..``end`` inclusive."""
    if end < start:
        raise ValueError(f"backfill: --to {end} is before --from {start}")
    if chunk_days < 1:
        raise ValueError(f"backfill: --chunk-days must be >= 1, got {chunk_days}")
    windows: list[tuple[date, date]] = []
    day = start
    while day <= end:
        upper = min(day + timedelta(days=chunk_days), end + timedelta(days=1))
        windows.append((day, upper))
        day = upper
    return windows


def backfill_command(window: tuple[date, date]) -> DbtCommand:
    """Rebuild one window: staging reloads events of [from, to); marts rebuild those dates."""
    dbt_vars = json.dumps({"backfill_from": window[0].isoformat(), "backfill_to": window[1].isoformat()})
    return DbtCommand(
        f"backfill {window[0]}..{window[1]}", ("build", "--exclude", "test_type:unit", "--vars", dbt_vars)
    )


def summarize(
    label: str, args: list[str], exit_code: int, seconds: float, run_results: dict[str, Any] | None
) -> StepResult:
    """A step's report from dbt's ``run_results.json``: node statuses, failures, per-model status and rows."""
    step = StepResult(label, args, exit_code, round(seconds, 2))
    if not run_results:
        return step
    statuses: Counter[str] = Counter()
    for result in run_results.get("results", []):
        status = str(result.get("status"))
        statuses[status] += 1
        uid = str(result.get("unique_id", ""))
        if status in ("error", "fail", "runtime error"):
            step.failures.append(f"{uid}: {(result.get('message') or '').strip()[:300]}")
        if uid.startswith("model."):
            name = uid.split(".")[-1]
            step.models[name] = status
            rows = (result.get("adapter_response") or {}).get("rows_affected")
            if isinstance(rows, int) and rows >= 0:
                step.rows[name] = rows
    step.statuses = dict(sorted(statuses.items()))
    return step


def dbt_executable() -> str:
    found = shutil.which("dbt")
    return found or str(Path(sys.executable).parent / "dbt")


def run_dbt(command: DbtCommand, target: str, work_dir: Path, env: dict[str, str] | None = None) -> StepResult:
    """Run one dbt command; its output streams through; the step reads dbt's run_results.json."""
    target_path = work_dir / "target"
    results_file = target_path / "run_results.json"
    results_file.unlink(missing_ok=True)
    args = [*command.args, "--target", target]
    cmd = [dbt_executable(), *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)]
    cmd += ["--target-path", str(target_path), "--log-path", str(work_dir / "logs")]
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=REPO, env=env or dict(os.environ), check=False)
    results = json.loads(results_file.read_text()) if results_file.exists() else None
    return summarize(command.label, args, done.returncode, time.monotonic() - started, results)


Runner = Callable[[DbtCommand, str, Path], StepResult]


def execute(
    kind: str,
    commands: list[DbtCommand],
    target: str,
    work_dir: Path,
    runner: Runner | None = None,
    progress: Callable[[str], None] = print,
) -> RunReport:
    """Run commands in order, stop at the first failure; progress lines name each step."""
    run: Runner = runner or (lambda c, t, w: run_dbt(c, t, w))
    report = RunReport(kind, target, datetime.now(UTC).isoformat(timespec="seconds"))
    started = time.monotonic()
    todo = [c for c in commands if not (c.snowflake_only and target == "local")]
    for i, command in enumerate(todo, start=1):
        progress(f"[{i}/{len(todo)}] {command.label} ...")
        step = run(command, target, work_dir)
        report.steps.append(step)
        progress(f"[{i}/{len(todo)}] {command.label}: exit {step.exit_code} in {step.seconds:.1f}s {step.statuses}")
        if step.exit_code != 0:
            report.ok = False
            break
    report.seconds = round(time.monotonic() - started, 2)
    return report


def write_report(report: RunReport, reports_dir: Path) -> Path:
    reports_dir.mkdir(parents=True, exist_ok=True)
    stamp = report.started_at.replace(":", "").replace("-", "").replace("+0000", "Z")
    path = reports_dir / f"{stamp}-{report.kind.replace(' ', '_')}.json"
    path.write_text(report.to_json())
    return path


def iter_days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)
