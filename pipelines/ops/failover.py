"""Cloud-only recovery: region failover, Snowflake failover and Pulumi state restore.

    python -m pipelines.ops.failover decide --health health.json
    python -m pipelines.ops.failover region --stack prod --dr-stack prod-dr --dr-region eu-central-1 \\
        --health health.json [--execute]
    python -m pipelines.ops.failover snowflake --group AA_FAILOVER [--execute]
    python -m pipelines.ops.failover state-restore --bucket affiliate-analytics-pulumi-state-prod --stack prod \\
        [--before 2026-11-25T10:00] [--execute]

None of this can be drilled locally (no cloud account here): the decision logic is pure and
unit-tested against fakes (``tests/pipelines/ops/test_failover.py``), the state restore against
moto's versioned S3. Without ``--execute`` every command prints the plan and changes nothing.

**Decision** (``decide``): fail over the region only when the primary has been down at least
``min_outage_minutes`` (15), the DR region is healthy and the Pulumi state is readable there (the
state bucket's replica); a shorter outage waits, with the component runbooks first. The plan
states the expected data loss: lake objects not yet replicated (S3 replication latency), the
warehouse since the secondary's last refresh, and what the collectors had spilled in the lost
region.

**Region failover** (``region``), in order: promote the Snowflake failover group in the secondary
account; ``pulumi up`` of the DR stack (the prod settings with the DR region; Automation API); copy
the lake replica into the DR stack's lake bucket; re-register the contracts and topics from the
newest configuration backup (``python -m pipelines.ops.backup restore --apply registry,topics``);
then the stream starts from the new cluster's earliest offsets.

**State restore** (``state-restore``): the S3 backend keeps ``.pulumi/stacks/<project>/<stack>.json``
in a versioned bucket (``infra/state.py``); the newest version (before ``--before``) that parses and
holds resources is copied back over the current one. ``pulumi stack export``/``import`` (Automation
API) covers a backend that is not S3.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

PROJECT = "affiliate-analytics"
REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- region failover: the decision


@dataclass(frozen=True)
class RegionHealth:
    """What the on-call engineer (or a probe) observed; ``health.json`` holds these keys."""

    primary_down_minutes: float
    dr_region_healthy: bool
    state_replica_readable: bool
    lake_replication_latency_s: float | None  # S3 ReplicationLatency of the enriched bucket
    snowflake_secondary_lag_minutes: float | None  # since the failover group's last refresh
    newest_backup_age_hours: float | None
    collector_journal_bytes_in_primary: int = 0


@dataclass
class Decision:
    action: str  # wait | fail_over | blocked
    reasons: list[str]
    steps: list[str] = field(default_factory=list)
    expected_loss: dict[str, str] = field(default_factory=dict)


def decide(h: RegionHealth, min_outage_minutes: float = 15, max_backup_age_hours: float = 48) -> Decision:
    if h.primary_down_minutes < min_outage_minutes:
        return Decision(
            "wait",
            [
                f"primary down {h.primary_down_minutes:.0f} min < {min_outage_minutes:.0f}: follow the component "
                "runbooks (msk-cluster-loss, collector-outage) first"
            ],
        )
    blockers = []
    if not h.dr_region_healthy:
        blockers.append("the DR region is not healthy: failing over would trade one outage for another")
    if not h.state_replica_readable:
        blockers.append("the Pulumi state replica is not readable: restore it first (runbooks/lost-pulumi-state.md)")
    if h.newest_backup_age_hours is None or h.newest_backup_age_hours > max_backup_age_hours:
        blockers.append(
            f"no configuration backup newer than {max_backup_age_hours:.0f} h in the replica: the registry and "
            "topics would come from the repository only (check before going on)"
        )
    if blockers:
        return Decision("blocked", blockers)
    loss = {
        "lake": "none beyond in-flight replication"
        if (h.lake_replication_latency_s or 0) < 900
        else f"objects younger than ~{(h.lake_replication_latency_s or 0) / 60:.0f} min",
        "warehouse": "unknown (no refresh history)"
        if h.snowflake_secondary_lag_minutes is None
        else f"changes of the last {h.snowflake_secondary_lag_minutes:.0f} min (re-loaded from the lake replica)",
        "collector": f"{h.collector_journal_bytes_in_primary} journal bytes in the lost region "
        "(replayed if the volumes come back: python -m pipelines.ops.replay journal)",
    }
    return Decision(
        "fail_over",
        [f"primary down {h.primary_down_minutes:.0f} min; DR region healthy; state replica readable"],
        [
            "snowflake: promote the failover group in the secondary account",
            "pulumi: up the DR stack (prod settings, DR region)",
            "s3: copy the lake replica into the DR stack's lake bucket",
            "backup: restore registry and topics from the newest configuration backup",
            "dns: point the tracer's collector host at the DR CloudFront distribution",
        ],
        loss,
    )


# ---------------------------------------------------------------- the operations, behind a port


class CloudOps(Protocol):
    def promote_snowflake(self, group: str) -> None: ...
    def pulumi_up(self, stack: str, config: dict[str, str]) -> dict[str, Any]: ...
    def copy_prefix(self, source_bucket: str, target_bucket: str, prefix: str) -> int: ...
    def restore_backup(self, stack: str, apply: str) -> None: ...


def snowflake_promote_sql(group: str) -> str:
    if not group.replace("_", "").isalnum():
        raise ValueError(f"failover group {group!r}: expected letters, digits and underscores")
    return f"ALTER FAILOVER GROUP {group} PRIMARY"


def fail_over_region(
    ops: CloudOps,
    decision: Decision,
    dr_stack: str,
    dr_region: str,
    lake_replica: str,
    dr_lake_bucket: str,
    group: str,
    prefix: str = "events/",
) -> list[str]:
    """Carry out a ``fail_over`` decision in order; returns what was done."""
    if decision.action != "fail_over":
        raise RuntimeError(f"decision is {decision.action!r}, not fail_over: {'; '.join(decision.reasons)}")
    done = []
    ops.promote_snowflake(group)
    done.append(f"snowflake: {snowflake_promote_sql(group)}")
    outputs = ops.pulumi_up(dr_stack, {f"{PROJECT}:region": dr_region})
    done.append(f"pulumi up {dr_stack} ({len(outputs)} outputs)")
    copied = ops.copy_prefix(lake_replica, dr_lake_bucket, prefix)
    done.append(f"s3: {copied} objects {lake_replica} → {dr_lake_bucket}")
    ops.restore_backup(dr_stack.split("-")[0], "registry,topics")
    done.append("backup: registry and topics restored")
    return done


class AwsPulumiSnowflakeOps:
    """The real operations: boto3, the Pulumi Automation API and the Snowflake connector."""

    def __init__(self, snowflake_conn: Any = None, s3: Any = None) -> None:
        self.snowflake_conn = snowflake_conn
        self.s3 = s3

    def promote_snowflake(self, group: str) -> None:
        if self.snowflake_conn is None:
            raise RuntimeError("no Snowflake connection to the secondary account (SNOWFLAKE_ACCOUNT)")
        self.snowflake_conn.cursor().execute(snowflake_promote_sql(group))

    def pulumi_up(self, stack: str, config: dict[str, str]) -> dict[str, Any]:
        from pulumi import automation as auto

        s = auto.select_stack(stack_name=stack, work_dir=str(REPO))
        for key, value in config.items():
            s.set_config(key, auto.ConfigValue(value=value))
        result = s.up(on_output=print)
        return {k: v.value for k, v in result.outputs.items()}

    def copy_prefix(self, source_bucket: str, target_bucket: str, prefix: str) -> int:
        n = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=source_bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                self.s3.copy_object(
                    Bucket=target_bucket, Key=obj["Key"], CopySource={"Bucket": source_bucket, "Key": obj["Key"]}
                )
                n += 1
        return n

    def restore_backup(self, stack: str, apply: str) -> None:
        from pipelines.ops import backup

        code = backup.main(["restore", "--stack", stack, "--out", f"/tmp/backup-{stack}", "--apply", apply])
        if code != 0:
            raise RuntimeError(f"backup restore of {stack} failed with exit code {code}")


# ---------------------------------------------------------------- Pulumi state restore


def state_key(stack: str, project: str = PROJECT) -> str:
    return f".pulumi/stacks/{project}/{stack}.json"


@dataclass(frozen=True)
class StateVersion:
    version_id: str
    last_modified: datetime
    resources: int
    usable: bool
    why: str = ""


def _resources(body: bytes) -> tuple[int, str]:
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return -1, f"not JSON ({exc.__class__.__name__})"
    latest = (doc.get("checkpoint") or {}).get("latest") or {}
    resources = latest.get("resources") or []
    if not resources:
        return 0, "no resources (an empty or destroyed stack)"
    return len(resources), ""


def state_versions(s3: Any, bucket: str, key: str) -> list[StateVersion]:
    """Every stored version of the stack's state, newest first, with whether it is usable."""
    out = []
    args: dict[str, Any] = {"Bucket": bucket, "Prefix": key}
    while True:
        resp = s3.list_object_versions(**args)
        for v in resp.get("Versions", []):
            if v["Key"] != key:
                continue
            body = s3.get_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])["Body"].read()
            n, why = _resources(body)
            out.append(StateVersion(v["VersionId"], v["LastModified"], n, n > 0, why))
        if not resp.get("IsTruncated"):
            break
        args.update(KeyMarker=resp["NextKeyMarker"], VersionIdMarker=resp["NextVersionIdMarker"])
    return sorted(out, key=lambda v: v.last_modified, reverse=True)


def choose_state_version(versions: Sequence[StateVersion], before: datetime | None = None) -> StateVersion:
    for v in versions:
        if before is not None and v.last_modified >= before:
            continue
        if v.usable:
            return v
    raise LookupError(
        "no usable state version"
        + (f" before {before.isoformat()}" if before else "")
        + "; try the replica bucket or the configuration backup's pulumi/stack-export.json (pulumi stack import)"
    )


def restore_state(
    s3: Any, bucket: str, stack: str, before: datetime | None = None, execute: bool = False
) -> dict[str, Any]:
    key = state_key(stack)
    versions = state_versions(s3, bucket, key)
    chosen = choose_state_version(versions, before)
    current = versions[0] if versions else None
    plan = {
        "bucket": bucket,
        "key": key,
        "versions": len(versions),
        "current": asdict(current) if current else None,
        "restore": asdict(chosen),
        "executed": False,
    }
    if execute and (current is None or current.version_id != chosen.version_id):
        s3.copy_object(
            Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key, "VersionId": chosen.version_id}
        )
        plan["executed"] = True
    return json.loads(json.dumps(plan, default=str))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.ops.failover",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("decide", help="print the decision for the observed health")
    d.add_argument("--health", type=Path, required=True, help="JSON with the RegionHealth fields")
    r = sub.add_parser("region", help="fail the platform over to the DR region")
    r.add_argument("--health", type=Path, required=True)
    r.add_argument("--stack", default="prod")
    r.add_argument("--dr-stack", required=True)
    r.add_argument("--dr-region", required=True)
    r.add_argument("--lake-replica", required=True, help="the enriched bucket's replica in the DR region")
    r.add_argument("--dr-lake-bucket", required=True)
    r.add_argument("--group", default="AA_FAILOVER")
    r.add_argument("--execute", action="store_true")
    sf = sub.add_parser("snowflake", help="promote the failover group in the secondary account")
    sf.add_argument("--group", default="AA_FAILOVER")
    sf.add_argument("--execute", action="store_true")
    st = sub.add_parser("state-restore", help="put back the newest usable version of a stack's state")
    st.add_argument("--bucket", required=True)
    st.add_argument("--stack", required=True)
    st.add_argument("--before", default=None, help="ISO time: only versions written before it")
    st.add_argument("--endpoint-url", default=None)
    st.add_argument("--execute", action="store_true")
    args = parser.parse_args(argv)
    if args.command in ("decide", "region"):
        decision = decide(RegionHealth(**json.loads(args.health.read_text())))
        print(json.dumps({"event": "failover_decision", **asdict(decision)}))
        if args.command == "decide" or not args.execute:
            return 0 if decision.action != "blocked" else 1
        from pipelines.ops.backup import _snowflake_connection, s3_client

        ops = AwsPulumiSnowflakeOps(_snowflake_connection(), s3_client())
        done = fail_over_region(
            ops, decision, args.dr_stack, args.dr_region, args.lake_replica, args.dr_lake_bucket, args.group
        )
        print(json.dumps({"event": "failover_done", "steps": done}))
        return 0
    if args.command == "snowflake":
        sql = snowflake_promote_sql(args.group)
        if args.execute:
            from pipelines.ops.backup import _snowflake_connection

            AwsPulumiSnowflakeOps(_snowflake_connection()).promote_snowflake(args.group)
        print(json.dumps({"event": "snowflake_failover", "sql": sql, "executed": args.execute}))
        return 0
    from pipelines.ops.backup import s3_client

    before = datetime.fromisoformat(args.before).replace(tzinfo=UTC) if args.before else None
    try:
        plan = restore_state(s3_client(args.endpoint_url), args.bucket, args.stack, before, args.execute)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"event": "state_restore", **plan}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
