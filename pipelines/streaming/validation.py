"""Business rules applied after decoding, and the late-event policy.

Times (all epoch milliseconds):

- ``event_time``: the device time corrected for clock skew, ``device_created_at +
  (collector_received_at - device_sent_at)`` (Snowplow's derived timestamp). Conversions carry no
  device clock: their event time is the network's ``occurred_at``.
- Late policy: a browser event whose event time is more than ``max_delay_ms`` (default 72 h) before
  the collector received it is *late*: it goes to the dead-letter topic with reason ``late_event``
  and is counted as ``late`` (the warehouse's lookback does not cover it). Conversions are exempt:
  networks report postbacks days after the sale by design.
- Future policy: an event created after it was sent (beyond ``future_tolerance_ms``), or received
  by the collector later than the stream's clock plus the tolerance, is ``future_event``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
KNOWN_CHART_ACTIONS = frozenset({"filter", "sort", "expand", "collapse", "compare", "paginate"})
KNOWN_DEVICE_CLASSES = frozenset({"desktop", "mobile", "tablet", "unknown"})
KNOWN_CONVERSION_STATUSES = frozenset({"pending", "approved", "reversed", "unknown"})


@dataclass(frozen=True)
class Policy:
    max_delay_ms: int = 72 * 3_600_000
    future_tolerance_ms: int = 5 * 60_000


@dataclass(frozen=True)
class Rejection:
    reason: str  # a DeadLetterReason symbol: business_rule, late_event, future_event
    detail: str


def event_time_ms(event_type: str, record: Mapping[str, Any]) -> int:
    """The event's own time, corrected for device clock skew (see module docstring)."""
    if event_type == "conversion":
        return int(record["occurred_at"])
    ctx = record["context"]
    return int(ctx["device_created_at"]) + int(ctx["collector_received_at"]) - int(ctx["device_sent_at"])


def received_ms(record: Mapping[str, Any]) -> int:
    ctx = record.get("context")
    return int((ctx or record)["collector_received_at"])


def _business(event_type: str, record: Mapping[str, Any]) -> str | None:
    """The first violated business rule as 'field: what is wrong', or None."""
    if not _UUID.match(str(record.get("event_id") or "")):
        return f"event_id: {record.get('event_id')!r} is not a UUID"
    if event_type == "conversion":
        if not _CURRENCY.match(str(record["currency"])):
            return f"currency: {record['currency']!r} is not an ISO 4217 code"
        if record["sale_amount"] < 0 or record["commission_amount"] < 0:
            return "sale_amount/commission_amount: must not be negative"
        if record["status"] not in KNOWN_CONVERSION_STATUSES:
            return f"status: {record['status']!r} is not a known conversion status"
        return None
    ctx = record["context"]
    if ctx["session_index"] < 1:
        return f"context.session_index: {ctx['session_index']} is below 1"
    if not str(ctx["page_path"]).startswith("/"):
        return f"context.page_path: {ctx['page_path']!r} does not start with '/'"
    if ctx["device_class"] not in KNOWN_DEVICE_CLASSES:
        return f"context.device_class: {ctx['device_class']!r} is not a known device class"
    if event_type in ("affiliate_click", "product_impression") and record["position"] < 1:
        return f"position: {record['position']} is below 1 (positions are 1-based)"
    if event_type == "affiliate_click" and not record["destination_domain"]:
        return "destination_domain: empty"
    if event_type == "chart_interaction" and record["action"] not in KNOWN_CHART_ACTIONS:
        return f"action: {record['action']!r} is not a known chart action"
    return None


def check(event_type: str, record: Mapping[str, Any], now_ms: int, policy: Policy = Policy()) -> Rejection | None:
    """Business rules, then the future and late policies; None when the event is valid."""
    problem = _business(event_type, record)
    if problem is not None:
        return Rejection("business_rule", f"{event_type}.{problem}")
    received = received_ms(record)
    if received > now_ms + policy.future_tolerance_ms:
        return Rejection(
            "future_event", f"{event_type}: collector_received_at is {received - now_ms} ms ahead of the stream clock"
        )
    if event_type == "conversion":
        if record["occurred_at"] > received + policy.future_tolerance_ms:
            return Rejection("future_event", "conversion: occurred_at is after collector_received_at")
        return None
    ctx = record["context"]
    if ctx["device_created_at"] > ctx["device_sent_at"] + policy.future_tolerance_ms:
        return Rejection("future_event", f"{event_type}: device_created_at is after device_sent_at")
    delay = received - event_time_ms(event_type, record)
    if delay > policy.max_delay_ms:
        return Rejection(
            "late_event",
            f"{event_type}: received {delay // 60_000} min after it happened; the limit is "
            f"{policy.max_delay_ms // 60_000} min",
        )
    return None
