"""The resource view the rules read: type, name, urn, props (Pulumi wire names, camelCase)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

REQUIRED_TAGS = ("cost-center", "environment", "component", "owner", "managed-by")
Level = Literal["mandatory", "advisory"]


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    provider_props: Mapping[str, Any] = field(default_factory=dict)
    protect: bool = False
    # property name -> resources it depends on (CrossGuard's property_dependencies), for stack rules
    dependencies: Mapping[str, list[str]] = field(default_factory=dict)

    @property
    def stack(self) -> str:
        """Stack name from the URN: urn:pulumi:<stack>::<project>::..."""
        parts = self.urn.split(":")
        return parts[2] if len(parts) > 2 and self.urn.startswith("urn:pulumi:") else ""

    @property
    def label(self) -> str:
        return f"{self.type} '{self.name}'"

    def get(self, path: str, default: Any = None) -> Any:
        """Read a dotted path through dicts and first list elements; JSON strings are parsed."""
        node: Any = self.props
        for part in path.split("."):
            node = _parse(node)
            if isinstance(node, list):
                node = node[0] if node else None
            if not isinstance(node, Mapping):
                return default
            node = node.get(part)
            if node is None:
                return default
        return _parse(node)


def _parse(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, Mapping) and "4dabf18193072939515e22adb298388d" in value:  # a Pulumi secret
        return value.get("value")
    return value


def effective_tags(res: Resource) -> dict[str, str]:
    """Resource tags merged over the provider's default tags (what AWS ends up with)."""
    defaults = _parse(res.provider_props.get("defaultTags")) or {}
    base = dict(_parse(defaults.get("tags")) or {}) if isinstance(defaults, Mapping) else {}
    for key in ("tagsAll", "tags"):
        tags = _parse(res.props.get(key))
        if isinstance(tags, Mapping):
            base.update({str(k): str(v) for k, v in tags.items()})
    return base


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    level: Level
    check: Callable[[Resource], list[str]]
    types: tuple[str, ...] = ()  # type-token prefixes the rule applies to; empty = all

    def applies(self, res: Resource) -> bool:
        return not self.types or res.type.startswith(self.types)


@dataclass(frozen=True)
class StackRule:
    name: str
    description: str
    level: Level
    check: Callable[[list[Resource]], list[str]]
