"""The event contracts as data: load, parse and describe the Avro schemas in ``schemas/``.

``schemas/`` at the repository root is the single source of truth. Each ``<event_type>.avsc``
is a standalone Avro record (the Glue Schema Registry does not resolve references), carries a
``retention_days`` attribute, and marks personal data on fields with a ``pii`` class.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

from pipelines.contracts.errors import SchemaFileError, UnknownEventTypeError

PII_CLASSES = ("ip_hash", "visitor_id", "geo", "free_text")
DEAD_LETTER = "dead_letter"


def schemas_dir() -> Path:
    """Where the .avsc files are: ``AA_SCHEMAS_DIR``, the copy shipped in the wheel, or the repo."""
    env = os.environ.get("AA_SCHEMAS_DIR")
    if env:
        return Path(env)
    shipped = Path(__file__).parent / "schemas_data"
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parents[2] / "schemas"


@dataclass(frozen=True)
class PiiField:
    path: str  # dotted path, e.g. "context.ip_hash"
    pii_class: str
    doc: str


@dataclass(frozen=True)
class EventContract:
    event_type: str
    path: Path
    definition: Mapping[str, Any]  # the JSON document as written
    parsed: Any = field(repr=False, compare=False)  # fastavro-parsed schema

    @property
    def canonical_text(self) -> str:
        """The definition as compact JSON: what is registered and compared in the registry."""
        return json.dumps(self.definition, separators=(",", ":"))

    @property
    def retention_days(self) -> int:
        return int(self.definition["retention_days"])

    @property
    def record_name(self) -> str:
        return f"{self.definition['namespace']}.{self.definition['name']}"

    def pii_fields(self) -> list[PiiField]:
        return list(_walk_pii(self.definition["fields"], ""))


def _walk_pii(fields: list[dict[str, Any]], prefix: str) -> Iterator[PiiField]:
    for f in fields:
        path = f"{prefix}{f['name']}"
        if "pii" in f:
            yield PiiField(path, f["pii"], f.get("doc", ""))
        for branch in f["type"] if isinstance(f["type"], list) else [f["type"]]:
            if isinstance(branch, dict) and branch.get("type") == "record":
                yield from _walk_pii(branch["fields"], f"{path}.")


def read_schema_file(path: Path) -> dict[str, Any]:
    """Read and parse one .avsc; errors name the file and the position or field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaFileError(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_schema_text(text, str(path))


def parse_schema_text(text: str, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaFileError(f"{where}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "record":
        raise SchemaFileError(f"{where}: top level must be an Avro record object")
    try:
        fastavro.parse_schema(doc)
    except Exception as exc:  # fastavro raises several unrelated types for bad schemas
        raise SchemaFileError(f"{where}: invalid Avro schema: {exc}") from exc
    return doc


@cache
def _load(directory: str) -> dict[str, EventContract]:
    contracts: dict[str, EventContract] = {}
    for path in sorted(Path(directory).glob("*.avsc")):
        doc = read_schema_file(path)
        contracts[path.stem] = EventContract(path.stem, path, doc, fastavro.parse_schema(doc))
    return contracts


def load_contracts(directory: Path | None = None) -> dict[str, EventContract]:
    """Every contract in the directory, keyed by event type (the file's stem)."""
    return _load(str(directory or schemas_dir()))


def contract(event_type: str, directory: Path | None = None) -> EventContract:
    contracts = load_contracts(directory)
    try:
        return contracts[event_type]
    except KeyError:
        raise UnknownEventTypeError(event_type, list(contracts)) from None


def event_types(directory: Path | None = None) -> list[str]:
    """Event types that travel on event topics (everything but the dead letter)."""
    return [t for t in load_contracts(directory) if t != DEAD_LETTER]
