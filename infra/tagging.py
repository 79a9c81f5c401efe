"""Cost tagging: the five cost tags on every taggable AWS resource and every Snowflake object.

Creates (via ``Tagging``): one ``aws.costexplorer.CostAllocationTag`` per cost tag key (when the
stack runs in the payer account).

Mechanism, in two layers:

* the AWS provider built by ``aws_provider`` carries ``cost-center``, ``environment``, ``owner``
  and ``managed-by`` as provider ``default_tags`` (merged by the provider into ``tags_all``);
* ``register_component_tags`` installs a stack transformation that adds the per-resource
  ``component`` tag (the ``module`` of the enclosing ``PlatformComponent``) to the ``tags`` input of
  every AWS resource that has one. Explicit tags on a resource win over the transformation.
"""

from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_aws as aws
from pydantic import Field

from infra.component import PlatformComponent, Settings, component_of, remember_component

COST_TAG_KEYS: tuple[str, ...] = ("cost-center", "environment", "component", "owner", "managed-by")
_NAME = r"^[A-Za-z0-9 _.:/=+@-]{1,128}$"


class TagsConfig(Settings):
    """Values of the stack-wide cost tags (``component`` is set per resource)."""

    cost_center: str = Field(pattern=_NAME)
    environment: Literal["dev", "staging", "prod"]
    owner: str = Field(pattern=_NAME)
    managed_by: str = Field(default="pulumi", pattern=_NAME)
    activate_cost_allocation_tags: bool = False

    def stack_tags(self) -> dict[str, str]:
        """The four tags that are the same for every resource of the stack."""
        return {
            "cost-center": self.cost_center,
            "environment": self.environment,
            "owner": self.owner,
            "managed-by": self.managed_by,
        }

    def for_component(self, component: str) -> dict[str, str]:
        """All five cost tags for one component."""
        return {**self.stack_tags(), "component": component}

    def snowflake_comment(self, component: str, what: str) -> str:
        """Snowflake objects carry the cost tags in their comment: ``<what> | k=v; ...``."""
        pairs = "; ".join(f"{k}={v}" for k, v in self.for_component(component).items())
        return f"{what} | {pairs}"


def aws_provider(
    name: str,
    region: str,
    tags: TagsConfig,
    opts: pulumi.ResourceOptions | None = None,
) -> aws.Provider:
    """An explicit AWS provider whose default tags are the stack-wide cost tags."""
    return aws.Provider(
        name,
        region=region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=tags.stack_tags()),
        opts=opts,
    )


def _with_component(component: str, existing: object) -> object:
    if existing is None:
        return {"component": component}
    if isinstance(existing, dict):
        return {"component": component, **existing}
    return existing  # list-shaped tags (e.g. autoscaling groups) are left alone


def register_component_tags(default_component: str = "platform") -> None:
    """Register the stack transformation that adds the ``component`` tag.

    Must be called inside the running Pulumi program, before any resource is created.
    """

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        component = component_of(args.opts.parent) or default_component
        remember_component(args.resource, component)
        if not args.type_.startswith("aws:") or "tags" not in args.props:
            return None
        props = dict(args.props)
        props["tags"] = pulumi.Output.from_input(props.get("tags")).apply(
            lambda existing: _with_component(component, existing)
        )
        return pulumi.ResourceTransformationResult(props=props, opts=args.opts)

    pulumi.runtime.register_stack_transformation(transform)


class Tagging(PlatformComponent):
    """Activates the cost tags as cost allocation tags (payer account only)."""

    module = "tagging"

    def __init__(self, name: str, config: TagsConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, opts)
        self.allocation_tags: list[aws.costexplorer.CostAllocationTag] = []
        if config.activate_cost_allocation_tags:
            for key in COST_TAG_KEYS:
                self.allocation_tags.append(
                    aws.costexplorer.CostAllocationTag(f"{name}-{key}", tag_key=key, status="Active", opts=self.child())
                )
        self.register_outputs({"activated": [t.tag_key for t in self.allocation_tags]})
