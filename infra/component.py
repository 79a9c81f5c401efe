"""Shared base for the platform's ComponentResources and their config models.

Every capability module defines one ``PlatformComponent`` subclass whose type token is
``aap:<module>:<ClassName>`` and one frozen pydantic config model deriving from ``Settings``.
The component's ``module`` name is also its ``component`` cost tag (see ``infra.tagging``).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import ClassVar

import pulumi
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

_COMPONENT_OF: weakref.WeakKeyDictionary[pulumi.Resource, str] = weakref.WeakKeyDictionary()


class Settings(BaseModel):
    """Base for component configs: frozen, unknown keys rejected, camelCase in stack files."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
    )


class PlatformComponent(pulumi.ComponentResource):
    """A platform capability; subclasses set ``module`` (used in the type token and cost tag)."""

    module: ClassVar[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None, protect_stateful: bool = False) -> None:
        """``protect_stateful`` sets ``protect=True`` on the children created with ``stateful=True``."""
        super().__init__(f"aap:{self.module}:{type(self).__name__}", name, None, opts)
        self.protect_stateful = protect_stateful
        _COMPONENT_OF[self] = self.module

    def child(
        self,
        depends_on: Sequence[pulumi.Resource] | None = None,
        provider: pulumi.ProviderResource | None = None,
        delete_before_replace: bool | None = None,
        stateful: bool = False,
    ) -> pulumi.ResourceOptions:
        """Options for a child resource: parented to this component; ``stateful`` holds data
        (keys, clusters, databases) and is protected from deletion when the stack says so."""
        return pulumi.ResourceOptions(
            parent=self,
            depends_on=list(depends_on) if depends_on else None,
            provider=provider,
            delete_before_replace=delete_before_replace,
            protect=True if stateful and self.protect_stateful else None,
        )


def component_of(resource: pulumi.Resource | None) -> str | None:
    """The cost ``component`` of a resource created under a PlatformComponent, if known."""
    if resource is None:
        return None
    return _COMPONENT_OF.get(resource)


def remember_component(resource: pulumi.Resource, component: str) -> None:
    _COMPONENT_OF[resource] = component
