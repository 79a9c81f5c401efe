"""Metadata of the event types as DataHub metadata change proposals (MCP JSON, DataHub's `file` source format).

The Avro schemas in ``schemas/`` are the only description of the events: each Kafka topic of
``schemas/topics.yaml`` becomes a DataHub dataset (platform ``kafka``) with the record's ``doc`` as
its description, every field (nested fields as dotted paths) with its ``doc``, PII fields tagged
``pii`` and ``pii_<class>``, and the platform owner (the stack's ``tags.owner``) as data owner.
Nothing here is typed a second time: change a schema and the catalog follows on the next run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pipelines.contracts.schemas import PII_CLASSES, EventContract, load_contracts
from pipelines.contracts.topics import TopicSpec, load_topics

KAFKA = "urn:li:dataPlatform:kafka"
PII_DOCS = {
    "ip_hash": "Salted hash of a truncated client IP (never the raw IP); masked in Snowflake unless PII_READER.",
    "visitor_id": "Pseudonymous visitor, session or ad-click identifier; masked in Snowflake unless PII_READER.",
    "click_id": "Affiliate click identifier joinable to a person's click; masked in Snowflake unless PII_READER.",
    "geo": "Viewer location from CDN headers (country, region, city); masked in Snowflake unless PII_READER.",
    "free_text": "Free text that may carry personal data (URLs, referrers, raw payloads); masked unless PII_READER.",
}
_SCALARS = {
    "string": "StringType",
    "bytes": "BytesType",
    "int": "NumberType",
    "long": "NumberType",
    "float": "NumberType",
    "double": "NumberType",
    "boolean": "BooleanType",
    "null": "NullType",
}


def dataset_urn(topic: str, env: str) -> str:
    return f"urn:li:dataset:({KAFKA},{topic},{env})"


def owner_urn(owner: str) -> str:
    return f"urn:li:corpuser:{owner}"


def _mcp(urn: str, aspect_name: str, aspect: Mapping[str, Any], entity: str = "dataset") -> dict[str, Any]:
    return {
        "entityType": entity,
        "entityUrn": urn,
        "changeType": "UPSERT",
        "aspectName": aspect_name,
        "aspect": {"json": dict(aspect)},
    }


def _type_of(avro: Any) -> tuple[str, str, bool]:
    """(DataHub type class, native type name, nullable) of an Avro type."""
    if isinstance(avro, list):
        rest = [t for t in avro if t != "null"]
        kind, native, _ = _type_of(rest[0] if len(rest) == 1 else "union")
        return (kind if len(rest) == 1 else "UnionType"), (native if len(rest) == 1 else "union"), "null" in avro
    if isinstance(avro, Mapping):
        logical = avro.get("logicalType")
        if logical in ("timestamp-millis", "timestamp-micros"):
            return "TimeType", str(logical), False
        kind = {
            "record": "RecordType",
            "enum": "EnumType",
            "array": "ArrayType",
            "map": "MapType",
            "fixed": "FixedType",
        }
        if avro["type"] in kind:
            return kind[avro["type"]], str(avro.get("name") or avro["type"]), False
        base, _, _ = _type_of(avro["type"])
        return base, str(logical or avro["type"]), False
    if avro == "union":
        return "UnionType", "union", False
    return _SCALARS.get(str(avro), "StringType"), str(avro), False


def _fields(fields: list[Mapping[str, Any]], prefix: str = "") -> Iterator[dict[str, Any]]:
    for f in fields:
        path = f"{prefix}{f['name']}"
        kind, native, nullable = _type_of(f["type"])
        field: dict[str, Any] = {
            "fieldPath": path,
            "nativeDataType": native,
            "type": {"type": {f"com.linkedin.schema.{kind}": {}}},
            "nullable": nullable,
            "description": str(f.get("doc", "")),
            "recursive": False,
            "isPartOfKey": False,
        }
        if "pii" in f:
            field["globalTags"] = {"tags": [{"tag": "urn:li:tag:pii"}, {"tag": f"urn:li:tag:pii_{f['pii']}"}]}
        yield field
        inner = f["type"]
        inner = next((t for t in inner if isinstance(t, Mapping)), inner) if isinstance(inner, list) else inner
        if isinstance(inner, Mapping) and inner.get("type") == "record":
            yield from _fields(inner["fields"], f"{path}.")


def topic_mcps(spec: TopicSpec, contract: EventContract, owner: str, env: str) -> list[dict[str, Any]]:
    """The aspects of one topic's dataset."""
    urn = dataset_urn(spec.name, env)
    definition = contract.definition
    classes = sorted({p.pii_class for p in contract.pii_fields()})
    return [
        _mcp(urn, "status", {"removed": False}),
        _mcp(urn, "subTypes", {"typeNames": ["Topic"]}),
        _mcp(
            urn,
            "datasetProperties",
            {
                "name": spec.name,
                "description": str(definition.get("doc", "")),
                "customProperties": {
                    "event_type": spec.event_type,
                    "avro_record": contract.record_name,
                    "retention_days": str(contract.retention_days),
                    "partitions": str(spec.partitions),
                    "message_key": spec.key,
                    "schema_file": f"schemas/{contract.path.name}",
                    **{f"topic.{k}": str(v) for k, v in sorted(spec.config.items())},
                },
                "tags": [],
            },
        ),
        _mcp(
            urn,
            "schemaMetadata",
            {
                "schemaName": contract.record_name,
                "platform": KAFKA,
                "version": 0,
                "hash": "",
                "platformSchema": {
                    "com.linkedin.schema.KafkaSchema": {
                        "documentSchema": contract.canonical_text,
                        "documentSchemaType": "AVRO",
                    }
                },
                "fields": list(_fields(definition["fields"])),
            },
        ),
        _mcp(urn, "ownership", {"owners": [{"owner": owner_urn(owner), "type": "DATAOWNER"}]}),
        _mcp(urn, "globalTags", {"tags": [{"tag": "urn:li:tag:pii"}, *({"tag": f"urn:li:tag:pii_{c}"} for c in classes)]}
             if classes else {"tags": []}),
    ]  # fmt: skip


def tag_mcps() -> list[dict[str, Any]]:
    """One tag per PII class (and ``pii``), described once here for the catalog's users."""
    out = [_mcp("urn:li:tag:pii", "tagProperties", {"name": "pii", "description": "Personal data (any class)."}, "tag")]
    for c in PII_CLASSES:
        out.append(
            _mcp(f"urn:li:tag:pii_{c}", "tagProperties", {"name": f"pii_{c}", "description": PII_DOCS[c]}, "tag")
        )
    return out


def event_type_mcps(owner: str, env: str = "PROD", schemas: Path | None = None) -> list[dict[str, Any]]:
    """Every topic of topics.yaml with its event type's Avro schema, plus the PII tags."""
    contracts = load_contracts(schemas)
    topics = load_topics(schemas / "topics.yaml" if schemas else None)
    out = tag_mcps()
    for spec in topics:
        out += topic_mcps(spec, contracts[spec.event_type], owner, env)
    return out


def write(path: Path, mcps: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(mcps, indent=1) + "\n", encoding="utf-8")
    return path
