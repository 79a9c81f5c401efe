"""Cloud-only recovery steps, not drillable locally: the decision logic against fakes, the Pulumi
state restore against moto's versioned S3."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipelines.ops import failover

HEALTHY = failover.RegionHealth(
    primary_down_minutes=40,
    dr_region_healthy=True,
    state_replica_readable=True,
    lake_replication_latency_s=60,
    snowflake_secondary_lag_minutes=8,
    newest_backup_age_hours=5,
    collector_journal_bytes_in_primary=4096,
)


def test_a_short_outage_waits_for_the_component_runbooks():
    d = failover.decide(failover.RegionHealth(**{**HEALTHY.__dict__, "primary_down_minutes": 6}))
    assert d.action == "wait"
    assert d.steps == []
    assert "msk-cluster-loss" in d.reasons[0]


def test_every_blocker_is_named_and_nothing_is_planned():
    d = failover.decide(
        failover.RegionHealth(
            **{
                **HEALTHY.__dict__,
                "dr_region_healthy": False,
                "state_replica_readable": False,
                "newest_backup_age_hours": None,
            }
        )
    )
    assert d.action == "blocked"
    assert len(d.reasons) == 3
    assert "DR region is not healthy" in d.reasons[0]
    assert "lost-pulumi-state.md" in d.reasons[1]
    assert "no configuration backup newer than 48 h" in d.reasons[2]
    assert d.steps == []


def test_a_long_outage_with_a_healthy_dr_region_fails_over_and_states_the_expected_loss():
    d = failover.decide(HEALTHY)
    assert d.action == "fail_over"
    assert [s.split(":")[0] for s in d.steps] == ["snowflake", "pulumi", "s3", "backup", "dns"]
    assert d.expected_loss["lake"] == "none beyond in-flight replication"
    assert d.expected_loss["warehouse"].startswith("changes of the last 8 min")
    assert d.expected_loss["collector"].startswith("4096 journal bytes")
    slow = failover.decide(failover.RegionHealth(**{**HEALTHY.__dict__, "lake_replication_latency_s": 1800}))
    assert slow.expected_loss["lake"] == "objects younger than ~30 min"


class FakeOps:
    def __init__(self, fail_at: str | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail_at = fail_at

    def _call(self, *call: Any) -> None:
        if call[0] == self.fail_at:
            raise RuntimeError(f"{call[0]} failed")
        self.calls.append(call)

    def promote_snowflake(self, group: str) -> None:
        self._call("snowflake", group)

    def pulumi_up(self, stack: str, config: dict[str, str]) -> dict[str, Any]:
        self._call("pulumi", stack, config)
        return {"cdnDomainName": "d1.cloudfront.net"}

    def copy_prefix(self, source_bucket: str, target_bucket: str, prefix: str) -> int:
        self._call("s3", source_bucket, target_bucket, prefix)
        return 12

    def restore_backup(self, stack: str, apply: str) -> None:
        self._call("backup", stack, apply)


def test_region_failover_runs_the_steps_in_order_with_the_dr_settings():
    ops = FakeOps()
    done = failover.fail_over_region(
        ops, failover.decide(HEALTHY), "prod-dr", "eu-central-1", "lake-replica", "dr-lake", "AA_FAILOVER"
    )
    assert ops.calls == [
        ("snowflake", "AA_FAILOVER"),
        ("pulumi", "prod-dr", {"affiliate-analytics:region": "eu-central-1"}),
        ("s3", "lake-replica", "dr-lake", "events/"),
        ("backup", "prod", "registry,topics"),
    ]
    assert done[0] == "snowflake: ALTER FAILOVER GROUP AA_FAILOVER PRIMARY"
    assert done[2] == "s3: 12 objects lake-replica → dr-lake"


def test_region_failover_refuses_anything_but_a_fail_over_decision_and_stops_at_a_failed_step():
    with pytest.raises(RuntimeError, match="decision is 'wait'"):
        failover.fail_over_region(
            FakeOps(),
            failover.decide(failover.RegionHealth(**{**HEALTHY.__dict__, "primary_down_minutes": 1})),
            "prod-dr",
            "eu-central-1",
            "a",
            "b",
            "G",
        )
    ops = FakeOps(fail_at="pulumi")
    with pytest.raises(RuntimeError, match="pulumi failed"):
        failover.fail_over_region(ops, failover.decide(HEALTHY), "prod-dr", "eu-central-1", "a", "b", "G")
    assert ops.calls == [("snowflake", "G")]  # nothing after the failed step


def test_snowflake_promote_sql_rejects_anything_but_an_identifier():
    assert failover.snowflake_promote_sql("AA_FAILOVER") == "ALTER FAILOVER GROUP AA_FAILOVER PRIMARY"
    with pytest.raises(ValueError, match="expected letters"):
        failover.snowflake_promote_sql("X; DROP DATABASE RAW")


def _state(n: int) -> bytes:
    return json.dumps(
        {"version": 3, "checkpoint": {"latest": {"resources": [{"urn": f"u{i}"} for i in range(n)]}}}
    ).encode()


@pytest.fixture
def state_bucket():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="state")
        s3.put_bucket_versioning(Bucket="state", VersioningConfiguration={"Status": "Enabled"})
        yield s3


def test_state_restore_puts_back_the_newest_version_with_resources(state_bucket):
    s3, key = state_bucket, failover.state_key("prod")
    assert key == ".pulumi/stacks/affiliate-analytics/prod.json"
    s3.put_object(Bucket="state", Key=key, Body=_state(250))
    time.sleep(1.1)  # S3 version times have one-second resolution
    s3.put_object(Bucket="state", Key=key, Body=_state(260))
    time.sleep(1.1)
    torn = b'{"version": 3, "checkpoint": {"latest": {"resources": ['
    s3.put_object(Bucket="state", Key=key, Body=torn)
    plan = failover.restore_state(s3, "state", "prod")
    assert plan["versions"] == 3
    assert plan["current"]["usable"] is False
    assert plan["current"]["why"] == "not JSON (JSONDecodeError)"
    assert plan["restore"]["resources"] == 260
    assert plan["executed"] is False  # a plan until --execute
    assert s3.get_object(Bucket="state", Key=key)["Body"].read() == torn
    plan = failover.restore_state(s3, "state", "prod", execute=True)
    assert plan["executed"] is True
    restored = json.loads(s3.get_object(Bucket="state", Key=key)["Body"].read())
    assert len(restored["checkpoint"]["latest"]["resources"]) == 260


def test_state_restore_before_a_time_and_when_nothing_is_usable(state_bucket):
    s3, key = state_bucket, failover.state_key("dev")
    s3.put_object(Bucket="state", Key=key, Body=_state(0))
    versions = failover.state_versions(s3, "state", key)
    assert [v.why for v in versions] == ["no resources (an empty or destroyed stack)"]
    with pytest.raises(LookupError, match=r"stack-export\.json"):
        failover.choose_state_version(versions)
    s3.put_object(Bucket="state", Key=key, Body=_state(3))
    newest = failover.state_versions(s3, "state", key)[0]
    assert failover.choose_state_version(failover.state_versions(s3, "state", key)) == newest
    with pytest.raises(LookupError, match="before 2000-01-01"):
        failover.choose_state_version(failover.state_versions(s3, "state", key), datetime(2000, 1, 1, tzinfo=UTC))


def test_cli_decide_prints_the_decision_and_fails_when_blocked(tmp_path, capsys):
    health = tmp_path / "health.json"
    health.write_text(json.dumps({**HEALTHY.__dict__, "dr_region_healthy": False}))
    assert failover.main(["decide", "--health", str(health)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["action"] == "blocked"
    assert failover.main(["snowflake", "--group", "AA_FAILOVER"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "event": "snowflake_failover",
        "sql": "ALTER FAILOVER GROUP AA_FAILOVER PRIMARY",
        "executed": False,
    }
