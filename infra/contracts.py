"""Pure loaders for the repository's event contracts (no Pulumi, no cloud).

``load_schemas`` reads every ``schemas/*.avsc``; ``load_topics`` reads ``schemas/topics.yaml``.
The stack program calls them once and passes the parsed result to the components, so components
never read files themselves.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PII_CLASSES: tuple[str, ...] = ("ip_hash", "visitor_id", "geo", "free_text", "click_id")


class ContractError(ValueError):
    """A contract file is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class PiiField:
    """A field holding personal data. ``path`` is dotted for nested records (``context.geo``)."""

    path: str
    pii_class: str


@dataclass(frozen=True)
class Column:
    """A top-level Avro field as a Snowflake column of the RAW table."""

    name: str
    snowflake_type: str
    nullable: bool
    pii_class: str | None


@dataclass(frozen=True)
class AvroContract:
    """One ``.avsc`` file: the event type is the file stem."""

    event_type: str
    record_name: str
    definition: str
    retention_days: int
    pii_fields: tuple[PiiField, ...]
    columns: tuple[Column, ...]
    sha256: str


@dataclass(frozen=True)
class TopicSpec:
    name: str
    event_type: str
    partitions: int
    config: dict[str, str]


@dataclass(frozen=True)
class TopicMap:
    key: str
    topics: tuple[TopicSpec, ...]
    text: str
    sha256: str


# Precedence when one top-level column (a nested record) holds several PII classes: the column
# gets the most restrictive class, because a masking policy masks the whole column anyway.
_PII_PRECEDENCE = ("free_text", "ip_hash", "geo", "visitor_id", "click_id")

_PRIMITIVES = {
    "string": "VARCHAR",
    "bytes": "BINARY",
    "int": "NUMBER(10,0)",
    "long": "NUMBER(19,0)",
    "float": "FLOAT",
    "double": "FLOAT",
    "boolean": "BOOLEAN",
}
_LOGICAL = {
    "timestamp-millis": "TIMESTAMP_NTZ(3)",
    "timestamp-micros": "TIMESTAMP_NTZ(6)",
    "local-timestamp-millis": "TIMESTAMP_NTZ(3)",
    "local-timestamp-micros": "TIMESTAMP_NTZ(6)",
    "date": "DATE",
    "uuid": "VARCHAR",
}


def _snowflake_type(avro_type: Any) -> tuple[str, bool]:
    """Map an Avro type to (Snowflake type, nullable)."""
    if isinstance(avro_type, list):
        branches = [t for t in avro_type if t != "null"]
        nullable = len(branches) < len(avro_type)
        if len(branches) == 1:
            return _snowflake_type(branches[0])[0], nullable
        return "VARIANT", nullable
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if isinstance(logical, str) and logical in _LOGICAL:
            return _LOGICAL[logical], False
        kind = avro_type.get("type")
        if kind == "enum":
            return "VARCHAR", False
        if kind in ("record", "map", "array"):
            return "VARIANT", False
        return _snowflake_type(kind)
    if isinstance(avro_type, str) and avro_type in _PRIMITIVES:
        return _PRIMITIVES[avro_type], False
    return "VARIANT", False  # named type reference (record defined earlier) or fixed


def _pii_fields(fields: list[dict[str, Any]], prefix: str, source: Path) -> list[PiiField]:
    found: list[PiiField] = []
    for field in fields:
        path = f"{prefix}{field['name']}"
        pii = field.get("pii")
        if pii is not None:
            if pii not in PII_CLASSES:
                raise ContractError(
                    f"{source}: field '{path}' has pii class {pii!r}; allowed: {', '.join(PII_CLASSES)}"
                )
            found.append(PiiField(path, pii))
        for nested in _records_in(field.get("type")):
            found.extend(_pii_fields(nested, f"{path}.", source))
    return found


def _records_in(avro_type: Any) -> list[list[dict[str, Any]]]:
    if isinstance(avro_type, list):
        return [f for t in avro_type for f in _records_in(t)]
    if isinstance(avro_type, dict):
        if avro_type.get("type") == "record":
            return [avro_type.get("fields", [])]
        if avro_type.get("type") == "array":
            return _records_in(avro_type.get("items"))
        if avro_type.get("type") == "map":
            return _records_in(avro_type.get("values"))
    return []


def load_schema(path: Path) -> AvroContract:
    text = path.read_text(encoding="utf-8")
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise ContractError(f"{path}: top level must be an Avro record")
    retention = schema.get("retention_days")
    if not isinstance(retention, int) or isinstance(retention, bool) or retention < 1:
        raise ContractError(f"{path}: 'retention_days' must be a positive integer, got {retention!r}")
    fields: list[dict[str, Any]] = schema.get("fields", [])
    pii = _pii_fields(fields, "", path)
    columns: list[Column] = []
    for field in fields:
        sf_type, nullable = _snowflake_type(field["type"])
        classes = [p.pii_class for p in pii if p.path == field["name"] or p.path.startswith(f"{field['name']}.")]
        top = next((c for c in _PII_PRECEDENCE if c in classes), None)
        columns.append(Column(field["name"], sf_type, nullable, top))
    return AvroContract(
        event_type=path.stem,
        record_name=str(schema.get("name", path.stem)),
        definition=text,
        retention_days=retention,
        pii_fields=tuple(pii),
        columns=tuple(columns),
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


def load_schemas(directory: Path) -> tuple[AvroContract, ...]:
    """Every ``*.avsc`` in ``directory``, sorted by event type."""
    paths = sorted(directory.glob("*.avsc"))
    if not paths:
        raise ContractError(f"{directory}: no *.avsc files found")
    return tuple(load_schema(p) for p in paths)


def load_topics(path: Path) -> TopicMap:
    """The topic map from ``topics.yaml``: per-topic settings merged over ``defaults``."""
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("topics"), dict):
        raise ContractError(f"{path}: expected a mapping with a 'topics' mapping")
    defaults: dict[str, Any] = data.get("defaults") or {}
    topics: list[TopicSpec] = []
    for name, spec in sorted(data["topics"].items()):
        spec = spec or {}
        if "event_type" not in spec:
            raise ContractError(f"{path}: topic '{name}' has no 'event_type'")
        config = {**(defaults.get("config") or {}), **(spec.get("config") or {})}
        topics.append(
            TopicSpec(
                name=name,
                event_type=str(spec["event_type"]),
                partitions=int(spec.get("partitions", defaults.get("partitions", 1))),
                config={str(k): str(v) for k, v in config.items()},
            )
        )
    return TopicMap(
        key=str(data.get("key", "")),
        topics=tuple(topics),
        text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


@dataclass(frozen=True)
class RawColumn:
    """A column of a RAW table: ``source`` is the Parquet path the pipe's COPY reads it from."""

    name: str
    snowflake_type: str
    nullable: bool
    pii_class: str | None
    source: str


def _strongest(classes: list[str]) -> str | None:
    return next((c for c in _PII_PRECEDENCE if c in classes), None)


def raw_columns(contract: AvroContract, stable_record: str = "context") -> tuple[RawColumn, ...]:
    """The RAW table of an event type: typed top-level columns, the stable context flattened to
    typed columns, the full record as VARIANT (``RECORD``), and load metadata.

    This mirrors the RAW contract the warehouse issue generates; both derive from ``schemas/``.
    """
    schema = json.loads(contract.definition)
    columns: list[RawColumn] = []
    for field in schema.get("fields", []):
        name = field["name"]
        records = _records_in(field["type"])
        if name == stable_record and records:
            for inner in records[0]:
                sf_type, nullable = _snowflake_type(inner["type"])
                classes = [p.pii_class for p in contract.pii_fields if p.path.startswith(f"{name}.{inner['name']}")]
                columns.append(
                    RawColumn(inner["name"].upper(), sf_type, nullable, _strongest(classes), f"{name}.{inner['name']}")
                )
            continue
        sf_type, nullable = _snowflake_type(field["type"])
        classes = [p.pii_class for p in contract.pii_fields if p.path == name or p.path.startswith(f"{name}.")]
        columns.append(RawColumn(name.upper(), sf_type, nullable, _strongest(classes), name))
    everything = _strongest([p.pii_class for p in contract.pii_fields])
    columns.append(RawColumn("RECORD", "VARIANT", False, everything, "$1"))
    columns.append(RawColumn("_FILE_NAME", "VARCHAR", False, None, "METADATA$FILENAME"))
    columns.append(RawColumn("_LOADED_AT", "TIMESTAMP_LTZ(9)", False, None, "CURRENT_TIMESTAMP()"))
    return tuple(columns)


def copy_select(columns: tuple[RawColumn, ...]) -> str:
    """The SELECT list of a Snowpipe COPY transformation over the lake's Parquet rows (``$1``).

    The stream writes one row per event (``pipelines/streaming/lake.py``): enrichment columns plus
    the decoded record as JSON text in ``payload``. Typed columns come from that record; RECORD
    keeps the whole lake row, so staging sees the stream's bot flag, channel and segments too.
    """
    record = 'PARSE_JSON($1:"payload")'
    parts: list[str] = []
    for column in columns:
        if column.source in ("$1", "METADATA$FILENAME", "CURRENT_TIMESTAMP()"):
            parts.append(column.source)
        else:
            path = ".".join(f'"{p}"' for p in column.source.split("."))
            parts.append(f"{record}:{path}::{column.snowflake_type}")
    return ", ".join(parts)
