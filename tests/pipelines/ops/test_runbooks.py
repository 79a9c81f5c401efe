"""Every `make …` and `python -m …` command a runbook names exists and accepts its arguments, and
is exercised by a drill or a test (the map below names which)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from pipelines.ops.drill import DRILLS

REPO = Path(__file__).resolve().parents[3]
RUNBOOKS = REPO / "runbooks"
SECTIONS = ("## Symptoms", "## Impact", "## Decision", "## Steps", "## Verification", "## Rollback", "## Who to tell")

# command (module + subcommand, or make target) -> where it is exercised: a test "file::name", "drill:<name>"
# or "ci:<workflow>"
EXERCISED: dict[str, list[str]] = {
    "make drill": ["tests/pipelines/ops/test_drill.py::test_drill_cli_lists_every_drill_and_refuses_unknown_names"],
    "make test": ["ci:.github/workflows/ci.yml"],
    "make compat": ["drill:schema", "tests/pipelines/contracts/test_compat.py::test_repository_schemas_pass_the_gate"],
    "pipelines.ops.drill": [
        "tests/pipelines/ops/test_drill.py::test_collector_drill_sigterm_under_load_loses_no_acknowledged_event"
    ],
    "pipelines.ops.replay journal": [
        "tests/pipelines/ops/test_replay.py::test_journal_replay_delivers_undelivered_frames_once_and_commits_the_cursor"
    ],
    "pipelines.ops.replay lake": [
        "tests/pipelines/ops/test_replay.py::test_lake_range_replays_each_event_once_and_skip_existing_makes_a_second_run_a_no_op"
    ],
    "pipelines.ops.backup export": [
        "tests/pipelines/ops/test_backup.py::test_the_cronjobs_command_exports_verifies_and_restores_through_the_cli",
        "tests/pipelines/ops/test_backup.py::test_export_writes_every_part_with_a_manifest_and_verify_checks_each_checksum",
    ],
    "pipelines.ops.backup verify": [
        "tests/pipelines/ops/test_backup.py::test_export_writes_every_part_with_a_manifest_and_verify_checks_each_checksum"
    ],
    "pipelines.ops.backup restore": [
        "tests/pipelines/ops/test_backup.py::test_restore_puts_the_registry_and_the_topics_back_into_an_empty_region"
    ],
    "pipelines.ops.checkpoint verify": [
        "drill:stream",
        "tests/pipelines/ops/test_checkpoint.py::test_a_healthy_checkpoint_and_a_crash_between_a_sink_and_sparks_commit_are_healthy",
    ],
    "pipelines.ops.checkpoint repair": [
        "drill:stream",
        "tests/pipelines/ops/test_checkpoint.py::test_repair_quarantines_the_torn_tail_and_rolls_the_lake_and_redis_back",
    ],
    "pipelines.ops.redis_state rebuild": [
        "drill:redis",
        "tests/pipelines/ops/test_redis_state.py::test_rebuild_writes_the_streams_keys_from_applied_batches_only",
    ],
    "pipelines.ops.redis_state snapshot": [
        "drill:redis",
        "tests/pipelines/ops/test_redis_state.py::test_rebuild_writes_the_streams_keys_from_applied_batches_only",
    ],
    "pipelines.ops.redis_state compare": [
        "tests/pipelines/ops/test_redis_state.py::test_snapshot_compare_cli_exits_1_naming_the_differing_key"
    ],
    "pipelines.ops.failover decide": [
        "tests/pipelines/ops/test_failover.py::test_cli_decide_prints_the_decision_and_fails_when_blocked"
    ],
    "pipelines.ops.failover region": [
        "tests/pipelines/ops/test_failover.py::test_region_failover_runs_the_steps_in_order_with_the_dr_settings"
    ],
    "pipelines.ops.failover snowflake": [
        "tests/pipelines/ops/test_failover.py::test_cli_decide_prints_the_decision_and_fails_when_blocked"
    ],
    "pipelines.ops.failover state-restore": [
        "tests/pipelines/ops/test_failover.py::test_state_restore_puts_back_the_newest_version_with_resources"
    ],
    "pipelines.streaming run": [
        "drill:stream",
        "tests/pipelines/streaming/test_stream_job.py::test_crashes_mid_stream_then_restart_from_checkpoint_give_the_same_numbers",
    ],
    "pipelines.batch backfill": [
        "drill:warehouse",
        "tests/dbt/test_batch_backfill.py::test_cli_backfill_is_idempotent_on_the_built_warehouse",
    ],
    "pipelines.batch run": [
        "drill:warehouse",
        "tests/pipelines/batch/test_runner.py::test_hourly_builds_without_unit_tests_and_daily_adds_freshness_and_docs",
    ],
    "pipelines.contracts.compat": [
        "drill:schema",
        "tests/pipelines/contracts/test_compat.py::test_repository_schemas_pass_the_gate",
    ],
    "pipelines.contracts.registry register": [
        "tests/pipelines/contracts/test_registry.py::test_register_command_prints_the_version_ids"
    ],
    "pipelines.contracts.topics sync": [
        "tests/pipelines/contracts/test_topics.py::test_sync_creates_missing_topics_then_changes_nothing"
    ],
    "pipelines.local.engines status": [
        "tests/pipelines/local/test_engines.py::test_up_is_idempotent_and_status_reports_every_engine_ready"
    ],
    "stacks.config": ["tests/infra/test_config.py::test_committed_stack_files_are_valid"],
}

INLINE = re.compile(r"`((?:uv run )?python -m [^`]+|make [a-z][a-z-]*(?: [^`]*)?)`")


def runbook_commands() -> list[tuple[str, list[str]]]:
    """(runbook, argv) of every make / python -m command in code blocks and inline code."""
    found: list[tuple[str, list[str]]] = []
    for md in sorted(RUNBOOKS.glob("*.md")):
        block = False
        for line in md.read_text().splitlines():
            if line.strip().startswith("```"):
                block = not block
                continue
            texts = [line.strip()] if block else INLINE.findall(line)
            for text in texts:
                text = text.removeprefix("uv run ")
                if not (text.startswith("python -m ") or text.startswith("make ")):
                    continue
                argv = shlex.split(text, comments=True)
                cut = next((i for i, a in enumerate(argv) if a in (">", ">>", "<", "|", "&&", "&")), len(argv))
                found.append((md.name, argv[:cut]))
    return found


def command_key(argv: list[str]) -> str:
    if argv[0] == "make":
        return f"make {argv[1]}"
    module = argv[2]
    positional = [a for a in argv[3:] if not a.startswith("-")]
    first = argv[3] if len(argv) > 3 and not argv[3].startswith("-") else None
    if module in ("pipelines.ops.drill", "stacks.config"):
        return module
    if first is None and positional:  # global options first: python -m pipelines.batch --target prod backfill
        first = next(a for a in positional if a in ("run", "backfill", "show"))
    return f"{module} {first}" if first else module


class _ParsedError(Exception):
    pass


def _accepts(module_name: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the module's argparse on ``args`` for real and stop before it does anything."""
    spec = importlib.util.find_spec(module_name)
    assert spec is not None, f"module {module_name} not found"
    module: Any = importlib.import_module(module_name)
    if not callable(getattr(module, "main", None)):  # a package (its ``main`` may be a submodule): its __main__
        module = importlib.import_module(f"{module_name}.__main__")
    source = Path(module.__file__).read_text()
    if "argparse" not in source:
        assert callable(getattr(module, "main", None)), f"{module_name} has no main()"
        return
    real = argparse.ArgumentParser.parse_args

    def parse_and_stop(self: argparse.ArgumentParser, a: Any = None, namespace: Any = None) -> Any:
        raise _ParsedError(real(self, a, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_and_stop)
    with pytest.raises(_ParsedError):
        module.main(args)


COMMANDS = runbook_commands()


def test_the_runbooks_name_commands_and_every_runbook_has_the_same_shape():
    assert len(COMMANDS) >= 40
    for md in sorted(RUNBOOKS.glob("*.md")):
        if md.name in ("README.md", "access-review.md"):
            continue
        text = md.read_text()
        positions = [text.find(s) for s in SECTIONS]
        assert -1 not in positions, (
            f"{md.name}: missing {[s for s, p in zip(SECTIONS, positions, strict=True) if p < 0]}"
        )
        assert positions == sorted(positions), f"{md.name}: sections out of order"
        assert "Drill" in text.split("## Symptoms")[0], f"{md.name}: no drill line in the header"


def test_the_index_links_every_runbook():
    index = (RUNBOOKS / "README.md").read_text()
    for md in sorted(RUNBOOKS.glob("*.md")):
        if md.name != "README.md":
            assert f"]({md.name})" in index, f"runbooks/README.md does not link {md.name}"


@pytest.mark.parametrize(("runbook", "argv"), COMMANDS, ids=[f"{r}:{' '.join(a)[:60]}" for r, a in COMMANDS])
def test_each_command_exists_and_accepts_its_arguments(runbook: str, argv: list[str], monkeypatch):
    if argv[0] == "make":
        targets = set(re.findall(r"^([a-z][a-z-]*):", (REPO / "Makefile").read_text(), re.M))
        assert argv[1] in targets, f"{runbook}: make {argv[1]} is not a Makefile target"
        for assignment in argv[2:]:
            name, _, value = assignment.partition("=")
            if name == "DRILL":
                assert set(value.split()) <= set(DRILLS), f"{runbook}: unknown drill in {assignment}"
        return
    assert argv[:2] == ["python", "-m"]
    if argv[2] == "pipelines.ops.drill":
        assert set(argv[3:]) <= set(DRILLS), f"{runbook}: unknown drill in {argv}"
    _accepts(argv[2], argv[3:], monkeypatch)


def test_each_command_is_exercised_by_a_drill_or_a_test():
    keys = {command_key(argv) for _, argv in COMMANDS}
    unmapped = sorted(keys - set(EXERCISED))
    assert unmapped == [], f"runbook commands no drill or test exercises (add them to EXERCISED): {unmapped}"
    for key in keys:
        for where in EXERCISED[key]:
            if where.startswith("ci:"):
                assert key in (REPO / where[3:]).read_text(), f"{key}: not run by {where}"
                continue
            if where.startswith("drill:"):
                assert where[6:] in DRILLS, f"{key}: {where} is not a drill"
                continue
            path, _, name = where.partition("::")
            assert re.search(rf"^def {name}\(", (REPO / path).read_text(), re.M), f"{key}: {where} does not exist"
