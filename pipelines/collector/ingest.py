"""From a request body to Kafka records (no I/O): parse, cap, validate, add server context, encode;
and dead-letter records for everything that cannot become an event.

Every event of a parsed batch ends up in exactly one place: an event topic (accepted) or the
dead-letter topic with a typed reason (rejected); ``accepted + rejected == len(events)``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipelines.collector.avro_writer import Writer, compile_writer
from pipelines.collector.fastpath import FastPath
from pipelines.collector.journal import Entry
from pipelines.collector.privacy import RequestContext
from pipelines.collector.validate import Checker, compile_contracts
from pipelines.contracts.codec import COMPRESSION_NONE, Codec, pack_header
from pipelines.contracts.errors import ContractError
from pipelines.contracts.schemas import DEAD_LETTER, load_contracts

RAW_CAP = 16 * 1024
BROWSER_EVENT_TYPES = ("page_view", "chart_interaction", "product_impression", "affiliate_click")
SERVER_CONTEXT = ("collector_received_at", "geo_country", "geo_region", "geo_city", "ip_hash", "user_agent")


class BodyError(Exception):
    """The request body as a whole is unusable: ``status`` is 400 or 413, ``reason`` a dead-letter reason."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail


@dataclass
class Batch:
    entries: list[Entry] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)  # by event type
    rejected: Counter[str] = field(default_factory=Counter)  # by dead-letter reason
    event_ids: list[str] = field(default_factory=list)  # of accepted events, in order

    @property
    def n_accepted(self) -> int:
        return sum(self.accepted.values())

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())


def parse_body(body: bytes, max_bytes: int, max_events: int) -> list[Any]:
    if len(body) > max_bytes:
        raise BodyError(413, "payload_too_large", f"body is {len(body)} bytes; the limit is {max_bytes}")
    if not body:
        raise BodyError(400, "unparseable", 'empty body; expected {"events": [...]}')
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, "unparseable", f"body is not JSON (UTF-8): {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
        raise BodyError(400, "unparseable", 'body must be a JSON object {"events": [...]}')
    events = doc["events"]
    if len(events) > max_events:
        raise BodyError(413, "payload_too_large", f"batch has {len(events)} events; the limit is {max_events}")
    return events


class Ingest:
    def __init__(self, codec: Codec, topics: Mapping[str, str]) -> None:
        """``topics``: event type → topic name, the dead letter's included."""
        self.codec = codec
        self.topics = dict(topics)
        contracts = load_contracts()
        self._checkers: dict[str, Checker] = compile_contracts(
            {t: contracts[t].definition for t in (*BROWSER_EVENT_TYPES, "conversion")}
        )
        self._fast = FastPath({t: contracts[t].definition for t in BROWSER_EVENT_TYPES}, SERVER_CONTEXT)
        # generated writers (byte-identical to the codec's fastavro output) when the codec does not compress
        versions = codec.current_versions
        self._writers: dict[str, tuple[bytes, Writer]] = {}
        if getattr(codec, "_compression", None) == COMPRESSION_NONE:
            self._writers = {
                t: (pack_header(versions[t]), compile_writer(contracts[t].definition))
                for t in BROWSER_EVENT_TYPES
                if t in versions
            }

    def fast_events(self, body: bytes, ctx: RequestContext, now: int, max_events: int) -> Batch | None:
        """The whole batch valid (the common case): decoded and validated in one msgspec pass, then
        encoded. None when anything is off: the caller takes :meth:`events`, which decides alone."""
        records = self._fast.decode(body)
        if records is None or len(records) > max_events:
            return None
        server = {
            "collector_received_at": now,
            "geo_country": ctx.geo_country,
            "geo_region": ctx.geo_region,
            "geo_city": ctx.geo_city,
            "ip_hash": ctx.ip_hash,
            "user_agent": ctx.user_agent,
        }
        batch = Batch()
        encode, topics, writers = self.codec.encode, self.topics, self._writers
        entries, accepted, ids = batch.entries, batch.accepted, batch.event_ids
        try:
            for record in records:
                event_type = record.pop("event_type")
                context = record["context"]
                context.update(server)
                writer = writers.get(event_type)
                if writer is not None:
                    value = writer[0] + writer[1](record)
                else:
                    value = encode(event_type, record, validated=True)
                entries.append(Entry(topics[event_type], context["session_id"].encode(), value))
                accepted[event_type] += 1
                ids.append(record["event_id"])
        except (ContractError, TypeError, ValueError, KeyError, AttributeError, UnicodeError):
            return None  # e.g. a string that cannot be encoded: the per-event path explains it
        return batch

    # ------------------------------------------------------------------ events

    def events(self, events: list[Any], ctx: RequestContext, received_at: int | None = None) -> Batch:
        now = received_at if received_at is not None else int(time.time() * 1000)
        server = {
            "collector_received_at": now,
            "geo_country": ctx.geo_country,
            "geo_region": ctx.geo_region,
            "geo_city": ctx.geo_city,
            "ip_hash": ctx.ip_hash,
            "user_agent": ctx.user_agent,
        }
        batch = Batch()
        for ev in events:
            self._one(ev, server, ctx, now, batch)
        return batch

    def _one(self, ev: Any, server: dict[str, Any], ctx: RequestContext, now: int, batch: Batch) -> None:
        if not isinstance(ev, dict):
            self._reject(batch, "schema_violation", f"event is a JSON {type(ev).__name__}, not an object", ev, ctx, now)
            return
        event_type = ev.get("event_type")
        if not isinstance(event_type, str) or event_type not in self._checkers or event_type == "conversion":
            detail = (
                "conversion events are accepted only through /v1/postback"
                if event_type == "conversion"
                else f"unknown event_type {str(event_type)[:60]!r}; allowed: {', '.join(BROWSER_EVENT_TYPES)}"
            )
            reason = "business_rule" if event_type == "conversion" else "unknown_event_type"
            self._reject(batch, reason, detail, ev, ctx, now)
            return
        record = {k: v for k, v in ev.items() if k != "event_type"}
        context = record.get("context")
        if isinstance(context, dict):
            record["context"] = {**context, **server}
        self.accept(event_type, record, ev, ctx, now, batch)

    def accept(
        self, event_type: str, record: dict[str, Any], raw: Any, ctx: RequestContext, now: int, batch: Batch
    ) -> dict[str, Any] | None:
        """Validate and encode one record; on failure dead-letter ``raw``. Returns the normalized record."""
        problems: list[str] = []
        normalized = self._checkers[event_type](record, "", problems)
        if problems:
            self._reject(batch, "schema_violation", "; ".join(problems), raw, ctx, now, event_type)
            return None
        try:
            value = self.codec.encode(event_type, normalized, validated=True)
        except ContractError as exc:
            self._reject(batch, exc.reason, str(exc), raw, ctx, now, event_type)
            return None
        key = normalized["context"]["session_id"] if "context" in normalized else normalized.get("click_id")
        key = key or normalized["event_id"]
        batch.entries.append(Entry(self.topics[event_type], key.encode(), value))
        batch.accepted[event_type] += 1
        batch.event_ids.append(normalized["event_id"])
        return normalized

    # ------------------------------------------------------------------ dead letters

    def _reject(
        self,
        batch: Batch,
        reason: str,
        detail: str,
        raw: Any,
        ctx: RequestContext,
        now: int,
        event_type: str | None = None,
    ) -> None:
        if event_type is None and isinstance(raw, dict) and isinstance(raw.get("event_type"), str):
            event_type = raw["event_type"][:100]
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        try:
            raw_bytes = raw if isinstance(raw, bytes) else orjson.dumps(raw)
        except TypeError:  # e.g. an integer beyond 64 bits: keep the text form
            raw_bytes = repr(raw).encode("utf-8", "replace")
        batch.entries.append(self.dead_letter(reason, detail, raw_bytes, ctx, now, event_type, event_id))
        batch.rejected[reason] += 1

    def dead_letter(
        self,
        reason: str,
        detail: str,
        raw: bytes,
        ctx: RequestContext,
        now: int,
        event_type: str | None = None,
        event_id: Any = None,
    ) -> Entry:
        event_id = event_id[:100] if isinstance(event_id, str) else None
        record = {
            "event_id": event_id,
            "reason": reason,
            "detail": detail[:4000],
            "stage": "collector",
            "event_type": event_type,
            "raw": raw[:RAW_CAP],
            "raw_truncated": len(raw) > RAW_CAP,
            "request_context": ctx.as_map(),
            "rejected_at": now,
        }
        value = self.codec.encode(DEAD_LETTER, record, validated=True)
        return Entry(self.topics[DEAD_LETTER], event_id.encode() if event_id else None, value)
