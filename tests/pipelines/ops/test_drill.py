"""The quick drills run in `make test` on the suite's engines (the rest run in `make drill`):
an incompatible schema meets the gate, and SIGTERM of the collector under load loses nothing."""

from __future__ import annotations

import pytest

from pipelines.ops import drill
from tests.conftest import fixed_port

pytestmark = pytest.mark.engines


@pytest.fixture
def ctx(local_engines, glue, namespace, tmp_path):
    context = drill.Context(
        tmp_path,
        local_engines,
        collector_port=fixed_port(28580),
        topic_prefix=f"{namespace}.",
        registry_name=f"reg-{namespace}",
        manage_engines=False,
    )
    context.setup()
    yield context
    context.teardown()


def test_schema_drill_the_gate_refuses_an_incompatible_schema_naming_the_field_and_passes_the_revert(ctx):
    result = drill.drill_schema(ctx)
    assert result.ok, result.as_dict()
    assert result.detail["gate_exit_incompatible"] == 1
    assert result.detail["gate_exit_reverted"] == 0
    assert (
        "affiliate_click.avsc: /fields/7 'position': reader type string not compatible with writer type int"
        in (result.detail["message"])
    )
    assert result.lost == 0


def test_collector_drill_sigterm_under_load_loses_no_acknowledged_event(ctx):
    result = drill.drill_collector(ctx)
    assert result.error is None
    assert result.acknowledged >= 400  # 300 before the SIGTERM, 100 more after the restart
    assert result.lost == 0
    assert result.detail["exit_code"] in (0, -15)
    assert result.detail["statuses"]["200"] * 10 == result.acknowledged
    assert result.ok
    assert result.recovery_s < 60


def test_drill_cli_lists_every_drill_and_refuses_unknown_names(capsys):
    assert drill.main(["--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == ["schema", "broker", "collector", "stream", "redis", "warehouse", "load-broker"]
    assert drill.main(["nope"]) == 2
    assert "unknown drill(s) nope" in capsys.readouterr().err


def test_report_table_shows_recovery_time_and_events_lost_per_drill():
    table = drill.render(
        [
            drill.DrillResult("broker", True, 18.77, 31290, 0),
            drill.DrillResult("stream", False, 3.0, 0, -1, error="TimeoutError: x"),
        ]
    )
    assert table.splitlines() == [
        "drill        result   recovery s  acknowledged  lost  dup",
        "broker       ok            18.77         31290     0    0",
        "stream       FAILED         3.00             0     ?    0  TimeoutError: x",
    ]
