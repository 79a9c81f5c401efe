"""The CrossGuard policies of the pack, built from the pure rules in ``policies/rules``.

Kept importable (constructing a ``PolicyPack`` starts a gRPC server and blocks, so only
``__main__.py`` does that).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.rules import aws, platform
from policies.rules.model import Resource, Rule, StackRule

RULES: list[Rule] = [*aws.RULES, *platform.RULES]
STACK_RULES: list[StackRule] = [*aws.STACK_RULES, *platform.STACK_RULES]
LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}


def _props(value: Any) -> Mapping[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _view(item: ResourceValidationArgs | PolicyResource) -> Resource:
    """The rules' view of a CrossGuard resource (validation args and stack resources alike)."""
    dependencies = getattr(item, "property_dependencies", None) or {}
    return Resource(
        type=item.resource_type,
        name=item.name,
        urn=item.urn,
        props=_props(item.props),
        provider_props=_props(getattr(getattr(item, "provider", None), "props", None)),
        protect=bool(getattr(getattr(item, "opts", None), "protect", False)),
        dependencies={k: [d.urn for d in v] for k, v in dependencies.items()},
    )


def _resource_validator(rule: Rule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        res = _view(args)
        if rule.applies(res):
            for message in rule.check(res):
                report_violation(message, None)

    return validate


def _stack_validator(rule: StackRule) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [_view(r) for r in args.resources]
        for message in rule.check(resources):
            report_violation(message, None)

    return validate


def policies() -> list[Policy]:
    out: list[Policy] = [
        ResourceValidationPolicy(
            name=r.name, description=r.description, validate=_resource_validator(r), enforcement_level=LEVELS[r.level]
        )
        for r in RULES
    ]
    out += [
        StackValidationPolicy(
            name=r.name, description=r.description, validate=_stack_validator(r), enforcement_level=LEVELS[r.level]
        )
        for r in STACK_RULES
    ]
    return out


def evaluate(resources: list[Resource]) -> dict[str, list[str]]:
    """Run every rule over resources without the CLI: {rule name: messages}, used by tests and CI."""
    found: dict[str, list[str]] = {}
    for rule in RULES:
        msgs = [m for res in resources if rule.applies(res) for m in rule.check(res)]
        if msgs:
            found[rule.name] = msgs
    for srule in STACK_RULES:
        msgs = srule.check(resources)
        if msgs:
            found[srule.name] = msgs
    return found
