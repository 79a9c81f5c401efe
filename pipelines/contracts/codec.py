"""One wire codec for every hop: Avro binary behind the AWS Glue Schema Registry header.

Wire layout (the Glue Schema Registry serde's, so AWS's Java/Kafka tooling reads our records)::

    byte 0      header version, always 3
    byte 1      compression: 0 = none, 5 = zlib (deflate stream of the Avro body)
    bytes 2-17  the writer schema's version id (UUID, 16 bytes big-endian)
    bytes 18-   Avro binary of the record (schemaless)

Decoding resolves the writer schema by its version id through the registry (cached) and reads
with the current reader schema of the same event type, so records written by older producers
decode into the current shape (Avro schema resolution: defaults fill added fields).

Logical types are kept as their underlying values (timestamps as epoch milliseconds, UUIDs as
strings), so ``decode(encode(r)).record == r`` and records stay JSON-friendly for every consumer.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import fastavro
from fastavro.validation import ValidationError, validate

from pipelines.contracts.errors import (
    CorruptHeaderError,
    SchemaViolationError,
    UndecodablePayloadError,
    UnknownEventTypeError,
)
from pipelines.contracts.schemas import EventContract, load_contracts

HEADER_VERSION = 3
COMPRESSION_NONE = 0
COMPRESSION_ZLIB = 5
HEADER_LENGTH = 18
_COMPRESSIONS = {"none": COMPRESSION_NONE, "zlib": COMPRESSION_ZLIB}


class WriterSchemaSource(Protocol):
    """What the codec needs from a schema registry."""

    def writer_schema(self, version_id: UUID) -> tuple[str, str]:
        """Return (event type, schema definition JSON) of a version id, or raise
        :class:`~pipelines.contracts.errors.UnknownSchemaVersionError`."""
        ...


@dataclass(frozen=True)
class Decoded:
    event_type: str
    version_id: UUID
    record: dict[str, Any]


def _without_logical_types(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_without_logical_types(v) for v in node]
    return node


def _parse(definition: Mapping[str, Any]) -> Any:
    return fastavro.parse_schema(_without_logical_types(dict(definition)))


def pack_header(version_id: UUID, compression: int = COMPRESSION_NONE) -> bytes:
    return bytes((HEADER_VERSION, compression)) + version_id.bytes


def unpack_header(data: bytes) -> tuple[UUID, int]:
    """Split off and check the header; raise CorruptHeaderError naming what is wrong."""
    if len(data) < HEADER_LENGTH:
        raise CorruptHeaderError(
            f"record is {len(data)} bytes, shorter than the {HEADER_LENGTH}-byte schema registry header"
        )
    if data[0] != HEADER_VERSION:
        raise CorruptHeaderError(f"header version byte is {data[0]}, expected {HEADER_VERSION}")
    if data[1] not in _COMPRESSIONS.values():
        raise CorruptHeaderError(
            f"compression byte is {data[1]}, expected {COMPRESSION_NONE} (none) or {COMPRESSION_ZLIB} (zlib)"
        )
    return UUID(bytes=bytes(data[2:HEADER_LENGTH])), data[1]


class Codec:
    """Encode records of the current schemas; decode records of any registered version."""

    def __init__(
        self,
        registry: WriterSchemaSource,
        current_versions: Mapping[str, UUID],
        contracts: Mapping[str, EventContract] | None = None,
        compression: str = "none",
    ) -> None:
        if compression not in _COMPRESSIONS:
            raise ValueError(f"compression {compression!r} is not one of {', '.join(_COMPRESSIONS)}")
        self._registry = registry
        self._contracts = dict(contracts if contracts is not None else load_contracts())
        self._versions = dict(current_versions)
        self._compression = _COMPRESSIONS[compression]
        self._readers = {t: _parse(c.definition) for t, c in self._contracts.items()}
        self._writers: dict[UUID, tuple[str, Any]] = {}

    @property
    def current_versions(self) -> dict[str, UUID]:
        return dict(self._versions)

    def _contract_schema(self, event_type: str) -> Any:
        try:
            return self._readers[event_type]
        except KeyError:
            raise UnknownEventTypeError(event_type, list(self._readers)) from None

    def validate(self, event_type: str, record: Mapping[str, Any]) -> None:
        """Raise SchemaViolationError with every problem found, field paths included."""
        schema = self._contract_schema(event_type)
        try:
            validate(record, schema, raise_errors=True, strict=True)
        except ValidationError as exc:
            raise SchemaViolationError(event_type, [str(e) for e in exc.errors]) from None

    def encode(self, event_type: str, record: Mapping[str, Any], *, validated: bool = False) -> bytes:
        """Avro-encode ``record`` behind the header of the current version of ``event_type``.

        The writer checks types as it goes (fast path); when it fails, the validator names every
        problem with its field path. Keys the schema does not know are not written: call
        :meth:`validate` first where unknown keys must be rejected (the collector does).
        """
        schema = self._contract_schema(event_type)
        version_id = self._versions.get(event_type)
        if version_id is None:
            raise UnknownEventTypeError(event_type, list(self._versions))
        buf = io.BytesIO()
        try:
            fastavro.schemaless_writer(buf, schema, dict(record))
        except Exception as exc:  # the writer fails fast with terse messages; explain with the validator
            if not validated:
                self.validate(event_type, record)
            raise SchemaViolationError(event_type, [f"{type(exc).__name__}: {exc}"]) from exc
        body = buf.getvalue()
        if self._compression == COMPRESSION_ZLIB:
            body = zlib.compress(body)
        return pack_header(version_id, self._compression) + body

    def _writer(self, version_id: UUID) -> tuple[str, Any]:
        cached = self._writers.get(version_id)
        if cached is None:
            import json

            event_type, definition = self._registry.writer_schema(version_id)
            cached = (event_type, _parse(json.loads(definition)))
            self._writers[version_id] = cached
        return cached

    def decode(self, data: bytes) -> Decoded:
        version_id, compression = unpack_header(data)
        event_type, writer = self._writer(version_id)
        reader = self._contract_schema(event_type)
        body = bytes(data[HEADER_LENGTH:])
        if compression == COMPRESSION_ZLIB:
            try:
                body = zlib.decompress(body)
            except zlib.error as exc:
                raise UndecodablePayloadError(f"zlib-compressed body does not inflate: {exc}") from exc
        try:
            fo = io.BytesIO(body)
            record = fastavro.schemaless_reader(fo, writer, reader)
        except Exception as exc:  # fastavro raises EOFError, SchemaResolutionError, UnicodeDecodeError...
            raise UndecodablePayloadError(
                f"{event_type} body ({len(body)} bytes) does not decode with writer version {version_id}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if fo.tell() != len(body):
            raise UndecodablePayloadError(
                f"{event_type} body has {len(body) - fo.tell()} trailing bytes after the record"
            )
        if not isinstance(record, dict):
            raise UndecodablePayloadError(f"{event_type} body decoded to {type(record).__name__}, not a record")
        return Decoded(event_type, version_id, record)
