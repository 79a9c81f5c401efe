"""Decode in the JVM: Spark's ``from_avro`` per registered writer schema version, same semantics as the codec.

For every Kafka record the plan (pure Spark SQL, no Python):

1. checks and strips the Glue header (``pipelines/contracts/codec.py``): header version byte 3,
   compression byte 0 (none), the 16-byte writer schema version id; the Avro body follows;
2. routes the body by its version id to ``from_avro(body, writer schema of that version,
   avroSchema = the current reader schema of its event type)``: Avro schema resolution in Java
   (``GenericDatumReader(writer, reader)``), so an older producer's record decodes into the current
   shape (added fields get their defaults), exactly like the codec's fastavro reader;
3. yields, per record, ``jvm_type`` (the event type when the JVM decoded it), the record as JSON
   in the current schema (``payload``) and the handful of fields the validation and enrichment
   rules read (``RULE_FIELDS``) as flat columns, so the Python workers never build the record.

Everything the JVM does not decode takes the codec's Python path unchanged (``jvm_type`` null):
zlib-compressed bodies, version ids not registered when the query started (the writer schemas
are read from the registry at job start; a later version still decodes through the codec, which
fetches it on first sight), bad headers and bodies ``from_avro`` rejects. The codec then gives the
typed dead-letter reason (``undecodable``, ``unknown_schema_version``...).

Known difference to fastavro: Java's reader stops after the record, so bytes *after* a complete
record are not detected on this path (the codec rejects them as ``undecodable``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812

from pipelines.contracts.codec import COMPRESSION_NONE, HEADER_LENGTH, HEADER_VERSION, _without_logical_types
from pipelines.contracts.schemas import EventContract

# Every record path the validation and enrichment rules and the stream's own columns read
# (validation.py, enrichment.py, processing.process_decoded). The Python workers get a record
# holding only these (where the event type has them); tests/pipelines/streaming/test_decode.py
# records every path the rules touch and fails when one is missing here.
RULE_FIELDS: tuple[tuple[str, ...], ...] = (
    ("event_id",),
    ("occurred_at",),
    ("collector_received_at",),
    ("currency",),
    ("sale_amount",),
    ("commission_amount",),
    ("status",),
    ("link_id",),
    ("merchant",),
    ("product_id",),
    ("position",),
    ("destination_domain",),
    ("action",),
    ("context", "session_id"),
    ("context", "visitor_id"),
    ("context", "site_id"),
    ("context", "page_path"),
    ("context", "page_url"),
    ("context", "referrer"),
    ("context", "user_agent"),
    ("context", "viewport_width"),
    ("context", "viewport_height"),
    ("context", "session_index"),
    ("context", "device_class"),
    ("context", "device_created_at"),
    ("context", "device_sent_at"),
    ("context", "collector_received_at"),
    ("context", "gclid"),
    ("context", "msclkid"),
    ("context", "fbclid"),
    ("context", "utm", "source"),
    ("context", "utm", "medium"),
)


def field_column(path: tuple[str, ...]) -> str:
    return "f_" + "__".join(path)


@dataclass(frozen=True)
class WriterVersion:
    version_id: uuid.UUID
    event_type: str
    definition: str  # the writer schema JSON as registered


def registered_versions(glue: Any, registry_name: str, event_types: Iterable[str]) -> list[WriterVersion]:
    """Every registered version of the given event types' schemas (by version number: the Glue
    API lists versions by number on AWS and on moto alike). Types without a schema are skipped."""
    from botocore.exceptions import ClientError

    out: list[WriterVersion] = []
    for event_type in event_types:
        schema_id = {"RegistryName": registry_name, "SchemaName": event_type}
        try:
            latest = glue.get_schema_version(SchemaId=schema_id, SchemaVersionNumber={"LatestVersion": True})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "EntityNotFoundException":
                continue
            raise
        for number in range(1, int(latest["VersionNumber"]) + 1):
            try:
                resp = glue.get_schema_version(SchemaId=schema_id, SchemaVersionNumber={"VersionNumber": number})
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "EntityNotFoundException":
                    continue  # a deleted version
                raise
            if resp.get("Status", "AVAILABLE") != "AVAILABLE":
                continue
            out.append(WriterVersion(uuid.UUID(resp["SchemaVersionId"]), event_type, resp["SchemaDefinition"]))
    return out


def _avro_json(definition: Mapping[str, Any] | str) -> str:
    """Schema JSON without logical types: timestamps stay epoch-ms longs and UUIDs strings, as in the codec."""
    doc = json.loads(definition) if isinstance(definition, str) else dict(definition)
    return json.dumps(_without_logical_types(doc))


def _has_path(definition: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = definition
    for name in path:
        fields = node.get("fields") if isinstance(node, dict) else None
        if fields is None:
            return False
        match = next((f for f in fields if f["name"] == name), None)
        if match is None:
            return False
        node = match["type"]
        if isinstance(node, list):  # ["null", X]
            node = next((t for t in node if t != "null"), None)
    return True


def present_paths(contracts: Mapping[str, EventContract]) -> dict[str, list[tuple[str, ...]]]:
    """Per event type, the RULE_FIELDS its reader schema has."""
    return {t: [p for p in RULE_FIELDS if _has_path(c.definition, p)] for t, c in contracts.items()}


def decode_columns(
    raw: DataFrame,
    versions: list[WriterVersion],
    contracts: Mapping[str, EventContract],
    fact_paths: tuple[str, ...] = (),
) -> DataFrame:
    """Kafka columns (value, topic, partition, offset, timestamp) → the same plus ``jvm_type``,
    ``version_hex``, ``payload``, one ``f_*`` column per RULE_FIELDS path and ``facts``: the values
    of ``fact_paths`` (the record paths the segmentation rules read) as a JSON object keyed by
    each path's index, so the writer evaluates the rules per distinct facts without parsing the
    payload (null without ``fact_paths``; a path the event type lacks is left out)."""
    value = F.col("value")
    version_hex = F.lower(F.hex(F.substring(value, 3, 16)))
    plain = (F.length(value) > HEADER_LENGTH) & (
        F.substring(value, 1, 2) == F.lit(bytes((HEADER_VERSION, COMPRESSION_NONE)))
    )
    body = F.expr(f"substring(value, {HEADER_LENGTH + 1}, length(value) - {HEADER_LENGTH})")
    from pyspark.sql.avro.functions import from_avro

    decoded: dict[str, Column] = {}
    for event_type, contract in contracts.items():
        mine = [v for v in versions if v.event_type == event_type]
        if not mine:
            continue
        options = {"avroSchema": _avro_json(contract.definition), "mode": "PERMISSIVE"}
        expr: Any = None
        for v in mine:
            cond = plain & (F.col("version_hex") == v.version_id.hex)
            branch = from_avro(body, _avro_json(v.definition), options)
            expr = F.when(cond, branch) if expr is None else expr.when(cond, branch)
        decoded[event_type] = expr
    staged = raw.withColumn("version_hex", version_hex).select("*", *[e.alias(f"rec_{t}") for t, e in decoded.items()])
    # a body from_avro cannot read gives (PERMISSIVE) a struct of nulls: event_id is required in
    # every event schema, so "decoded" means event_id is set
    ok = {t: F.col(f"rec_{t}").isNotNull() & F.col(f"rec_{t}.event_id").isNotNull() for t in decoded}
    jvm_type: Any = F.lit(None).cast("string")
    payload: Any = F.lit(None).cast("string")
    for t in decoded:
        jvm_type = F.when(ok[t], F.lit(t)).otherwise(jvm_type)
        payload = F.when(ok[t], F.to_json(F.col(f"rec_{t}"), {"ignoreNullFields": "false"})).otherwise(payload)
    facts: Any = F.lit(None).cast("string")
    if fact_paths:
        for t in decoded:
            mine = [(i, p) for i, p in enumerate(fact_paths) if _has_path(contracts[t].definition, tuple(p.split(".")))]
            doc = F.struct(*[F.col(f"rec_{t}." + p).alias(str(i)) for i, p in mine]) if mine else None
            text = F.to_json(doc, {"ignoreNullFields": "false"}) if doc is not None else F.lit("{}")
            facts = F.when(ok[t], text).otherwise(facts)
    paths = present_paths({t: contracts[t] for t in decoded})
    fields = []
    for path in RULE_FIELDS:
        having = [t for t in decoded if path in paths[t]]
        if not having:
            fields.append(F.lit(None).alias(field_column(path)))
            continue
        getters = [F.when(ok[t], F.col(f"rec_{t}." + ".".join(path))) for t in having]
        fields.append((getters[0] if len(getters) == 1 else F.coalesce(*getters)).alias(field_column(path)))
    return staged.select(
        "value",
        "topic",
        "partition",
        "offset",
        "timestamp",
        jvm_type.alias("jvm_type"),
        "version_hex",
        payload.alias("payload"),
        facts.alias("facts"),
        *fields,
    )
