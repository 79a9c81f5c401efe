"""The collector's fast path: a whole ``{"events": [...]}`` body decoded and strictly validated in
one C pass by msgspec, with Structs generated from the Avro contracts (pure, no I/O).

The Structs say what the contract says: unknown keys are errors (``forbid_unknown_fields``), ints
are bounded to Avro int/long, UUID fields match the UUID pattern, enums are Literals, omitted
nullable fields are null and omitted defaulted fields get the default. The server-set context
fields are accepted as anything here because the collector overwrites them (as the slow path does
before validating). Events are a union tagged by ``event_type`` over the browser event types.

Any failure (one invalid event, a conversion from a browser, an unknown type, a body that is not
JSON) returns None and the caller takes the per-event path (``validate.py``), which accepts exactly
the same events and explains every problem; so the fast path changes speed, never outcomes.
``tests/pipelines/collector/test_rules.py`` checks both paths agree.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, cast

import msgspec

_UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_INT = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
_LONG = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_UUID = Annotated[str, msgspec.Meta(pattern=_UUID_PATTERN)]
_PRIMITIVES: dict[str, Any] = {
    "null": None,
    "boolean": bool,
    "int": _INT,
    "long": _LONG,
    "float": float,
    "double": float,
    "string": str,
}


class UnsupportedSchemaError(ValueError):
    pass


class _Builder:
    def __init__(self, server_fields: frozenset[str]) -> None:
        self.server_fields = server_fields
        self.n = 0

    def type_of(self, schema: Any, *, context: bool = False) -> Any:
        if isinstance(schema, str):
            if schema not in _PRIMITIVES:
                raise UnsupportedSchemaError(f"named type reference {schema!r}")
            return _PRIMITIVES[schema]
        if isinstance(schema, list):
            non_null = [b for b in schema if b != "null"]
            if len(non_null) == 1 and len(schema) == 2:
                return self.type_of(non_null[0]) | None
            raise UnsupportedSchemaError(f"union {schema!r}")
        kind = schema["type"]
        if kind == "string" and schema.get("logicalType") == "uuid":
            return _UUID
        if kind in _PRIMITIVES:
            return _PRIMITIVES[kind]
        if kind == "enum":
            return Literal[tuple(schema["symbols"])]  # type: ignore[valid-type]
        if kind == "array":
            return list[self.type_of(schema["items"])]  # type: ignore[misc]
        if kind == "map":
            return dict[str, self.type_of(schema["values"])]  # type: ignore[misc]
        if kind == "record":
            return self.record(schema, context=context)
        raise UnsupportedSchemaError(f"type {kind!r}")

    def record(self, schema: Mapping[str, Any], *, tag: str | None = None, context: bool = False) -> type:
        fields: list[tuple[str, Any, Any]] = []
        for f in schema["fields"]:
            name = f["name"]
            if context and name in self.server_fields:
                fields.append((name, Any, None))  # overwritten by the collector
                continue
            ftype = self.type_of(f["type"], context=name == "context")
            nullable = isinstance(f["type"], list) and "null" in f["type"]
            if "default" in f:
                default = f["default"]
                if isinstance(default, (dict, list)):
                    fields.append((name, ftype, msgspec.field(default_factory=lambda d=default: copy.deepcopy(d))))
                else:
                    fields.append((name, ftype, default))
            elif nullable:
                fields.append((name, ftype, None))
            else:
                fields.append((name, ftype))  # type: ignore[arg-type]
        self.n += 1
        name = re.sub(r"\W", "_", str(schema.get("name", f"Record{self.n}")))
        return msgspec.defstruct(
            f"{name}_{self.n}",
            fields,  # type: ignore[arg-type]
            kw_only=True,
            forbid_unknown_fields=True,
            tag_field="event_type" if tag else None,
            tag=tag if tag else None,
        )


class FastPath:
    """Decode a body into normalized records by event type, or None when anything is off."""

    def __init__(self, definitions: Mapping[str, Mapping[str, Any]], server_fields: tuple[str, ...]) -> None:
        builder = _Builder(frozenset(server_fields))
        structs = tuple(builder.record(d, tag=t) for t, d in definitions.items())
        body = msgspec.defstruct("Body", [("events", list[Union[structs]])])  # type: ignore[valid-type]  # noqa: UP007
        self._decoder = msgspec.json.Decoder(body)

    def decode(self, body: bytes) -> list[dict[str, Any]] | None:
        """Every event as a plain dict (``event_type`` included), or None: take the slow path."""
        try:
            doc = self._decoder.decode(body)
        except msgspec.DecodeError:  # ValidationError included
            return None
        return msgspec.to_builtins(cast(Any, doc).events)
