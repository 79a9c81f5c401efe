"""Every policy over the resources both stacks record under Pulumi mocks.

The real stacks must have zero mandatory violations; a deliberately broken stack config is caught.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from policies import pack
from policies.rules.model import Resource
from tests.infra.conftest import PROJECT, stack_config_values, start_mocks

MANDATORY = {r.name for r in pack.RULES if r.level == "mandatory"} | {
    r.name for r in pack.STACK_RULES if r.level == "mandatory"
}


def record_stack(stack: str, overrides: dict[str, Any] | None = None) -> list[Resource]:
    """Run the stack program under mocks; return the policy view of every resource (protect included)."""
    from stacks.program import run

    recorder = start_mocks(stack, stack_config_values(stack, overrides))
    protected: dict[str, bool] = {}

    def remember(args: pulumi.ResourceTransformationArgs) -> None:
        protected[args.name] = bool(args.opts.protect) if args.opts else False

    @pulumi.runtime.test
    def program() -> None:
        pulumi.runtime.register_stack_transformation(remember)  # type: ignore[arg-type]
        run()

    program()
    # mocks resolve a bucket Output to its id ("<name>-id") or name ("<name>-bucket")
    by_id = {
        f"{r.name}{suffix}": r
        for r in recorder.created
        if r.typ == "aws:s3/bucket:Bucket"
        for suffix in ("-id", "-bucket")
    }
    providers = {r.name: r.inputs for r in recorder.created if r.typ.startswith("pulumi:providers:")}
    urn = lambda r: f"urn:pulumi:{stack}::{PROJECT}::{r.typ}::{r.name}"  # noqa: E731
    out = []
    for r in recorder.created:
        deps = {}
        target = r.inputs.get("bucket")
        if isinstance(target, str) and target in by_id:
            deps["bucket"] = [urn(by_id[target])]
        provider_name = r.provider.split("::")[3] if r.provider else ""
        # a stack policy sees outputs too: the bucket ARNs the audit-trail rule matches
        props = {**r.inputs, "arn": f"arn:aws:s3:::{r.name}-bucket"} if r.typ == "aws:s3/bucket:Bucket" else r.inputs
        out.append(
            Resource(r.typ, r.name, urn(r), props, providers.get(provider_name, {}), protected.get(r.name, False), deps)
        )
    return out


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stacks_have_no_mandatory_violations(stack):
    violations = pack.evaluate(record_stack(stack))
    mandatory = {k: v for k, v in violations.items() if k in MANDATORY}
    assert mandatory == {}, json.dumps(mandatory, indent=2)


def test_a_broken_stack_config_is_caught_with_the_expected_message():
    resources = record_stack("dev")
    broken = [
        Resource(r.type, r.name, r.urn, {**r.props, "autoSuspend": 3600}, r.provider_props, r.protect, r.dependencies)
        if r.type == "snowflake:index/warehouse:Warehouse"
        else r
        for r in resources
    ]
    violations = pack.evaluate(broken)
    assert "snowflake-warehouse-guardrails" in violations
    assert all(
        "autoSuspend=3600; warehouses must auto-suspend within 300 s" in m
        for m in violations["snowflake-warehouse-guardrails"]
    )


def test_a_stack_without_the_lake_audit_trail_is_caught():
    violations = pack.evaluate(record_stack("dev", {"affiliate-analytics:lake": _lake_without_trail()}))
    assert sorted(violations["lake-data-events-audited"]) == [
        f"aws:s3/bucket:Bucket 'lake-{b}': no CloudTrail data events (object reads and writes) on its objects; keep "
        "lake.cloudTrailDataEvents on (infra/lake.py adds the bucket to the trail's selector)"
        for b in ("dead-letter", "enriched", "raw")
    ]


def _lake_without_trail() -> dict[str, Any]:
    import yaml

    from tests.infra.conftest import REPO

    lake = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())["config"]["affiliate-analytics:lake"]
    return {**lake, "cloudTrailDataEvents": False}
