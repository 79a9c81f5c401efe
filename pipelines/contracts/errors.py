"""Typed errors of the event contracts.

Every error carries a ``reason`` that is one of the dead-letter topic's ``DeadLetterReason``
symbols, so a caller that catches :class:`ContractError` can route the input to the dead-letter
topic without translating anything.
"""

from __future__ import annotations


class ContractError(ValueError):
    """Base of every contract error; ``reason`` is a DeadLetterReason symbol."""

    reason: str = "other"


class UnknownEventTypeError(ContractError):
    reason = "unknown_event_type"

    def __init__(self, event_type: str, known: list[str]) -> None:
        super().__init__(f"unknown event type {event_type!r}; known event types: {', '.join(sorted(known))}")
        self.event_type = event_type


class SchemaViolationError(ContractError):
    reason = "schema_violation"

    def __init__(self, event_type: str, problems: list[str]) -> None:
        super().__init__(f"{event_type}: record does not match its schema: {'; '.join(problems)}")
        self.event_type = event_type
        self.problems = problems


class CorruptHeaderError(ContractError):
    reason = "undecodable"


class UndecodablePayloadError(ContractError):
    reason = "undecodable"


class UnknownSchemaVersionError(ContractError):
    reason = "unknown_schema_version"

    def __init__(self, version_id: str, detail: str = "") -> None:
        msg = f"schema version id {version_id} is not known to the schema registry"
        super().__init__(f"{msg}: {detail}" if detail else msg)
        self.version_id = version_id


class SchemaFileError(ContractError):
    """A .avsc file that cannot be read or parsed; the message names the file and the position."""

    reason = "other"
