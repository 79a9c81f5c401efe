"""Rules of the affiliate redirect and the conversion postback (pure functions, no I/O).

Redirect ``GET /r?u=<destination>&e=<base64url JSON click event>[&s=<signature>]``:

- the destination must be an absolute http(s) URL without credentials whose host is an
  allow-listed merchant domain or a subdomain of one (never an open redirect);
- when a signing key is configured, ``s`` must be the hex HMAC-SHA256 of ``u`` under that key
  (links are signed when the page is published); unsigned or wrongly signed links are refused;
- the click id of the event is set as the merchant's sub-id parameter (per-domain rule), so the
  network's postback carries it back.

Postback ``GET|POST /v1/postback``: parameters ``network``, ``conversion_id``, ``click_id``,
``merchant``, ``amount``, ``commission``, ``currency``, ``status``, ``occurred_at`` (epoch ms),
``order_ref``, and ``sig`` = hex HMAC-SHA256 under the network's secret of the other parameters
sorted by name and joined as ``k=v&k=v`` (values as sent, not URL-encoded). The event id is
derived from network + conversion id, so a repeated postback is the same event downstream.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson


class RefusedError(Exception):
    """The request must not be followed or recorded; ``status`` is the HTTP answer."""

    def __init__(self, status: int, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.outcome = outcome
        self.detail = detail


def sign(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def allowed_domain(host: str, domains: Mapping[str, Any]) -> str | None:
    """The allow-listed domain that ``host`` is or is a subdomain of."""
    host = host.lower().rstrip(".")
    for domain in domains:
        if host == domain or host.endswith("." + domain):
            return domain
    return None


def check_destination(url: str | None, domains: Mapping[str, Any], key: bytes | None, sig: str | None) -> str:
    """Return the allow-listed domain of ``url`` or raise RefusedError."""
    if not url:
        raise RefusedError(400, "missing_destination", "parameter u (destination URL) is required")
    if any(c in url for c in "\\\r\n\t") or len(url) > 4096:
        raise RefusedError(400, "bad_destination", "destination URL contains forbidden characters or is too long")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc:
        raise RefusedError(400, "bad_destination", "destination must be an absolute http(s) URL without credentials")
    domain = allowed_domain(parts.hostname, domains)
    if domain is None:
        raise RefusedError(
            403, "unlisted_destination", f"destination host {parts.hostname[:100]!r} is not allow-listed"
        )
    if key is not None and (not sig or not hmac.compare_digest(sign(key, url), sig)):
        raise RefusedError(403, "bad_signature", "destination link is unsigned or its signature does not match")
    return domain


def with_subid(url: str, param: str | None, click_id: str | None) -> str:
    if not param or not click_id:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != param]
    query.append((param, click_id))
    return urlunsplit(parts._replace(query=urlencode(query)))


def decode_click(e: str | None) -> Any:
    """The click event from the ``e`` parameter (base64url JSON, padding optional); raise ValueError."""
    if not e:
        raise ValueError("parameter e (the click event) is missing")
    try:
        raw = base64.urlsafe_b64decode(e + "=" * (-len(e) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"parameter e is not base64url: {exc}") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"parameter e does not hold JSON: {exc}") from None


# ---------------------------------------------------------------- postbacks

POSTBACK_FIELDS = (
    "network",
    "conversion_id",
    "click_id",
    "merchant",
    "amount",
    "commission",
    "currency",
    "status",
    "occurred_at",
    "order_ref",
)


def postback_signature(secret: bytes, params: Mapping[str, str]) -> str:
    message = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sig")
    return sign(secret, message)


def verify_postback(params: Mapping[str, str], secrets: Mapping[str, bytes]) -> str:
    """Return the network or raise RefusedError (unknown network, missing or bad signature)."""
    network = params.get("network", "")
    secret = secrets.get(network)
    if secret is None:
        raise RefusedError(403, "unknown_network", f"network {network[:60]!r} is not configured for postbacks")
    sig = params.get("sig", "")
    if not sig or not hmac.compare_digest(postback_signature(secret, params), sig):
        raise RefusedError(403, "bad_signature", "postback signature is missing or does not match")
    return network


def conversion_event_id(network: str, conversion_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{network}:{conversion_id}"))


def _number(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return raw  # the validator names the field
    return value if math.isfinite(value) else raw


def conversion_record(params: Mapping[str, str], now: int) -> dict[str, Any]:
    """The conversion record to validate; types are checked by the contract's validator."""
    network = params.get("network", "")
    conv = params.get("conversion_id", "")
    occurred: Any = params.get("occurred_at")
    if occurred is None:
        occurred = now
    elif occurred.isdigit():
        occurred = int(occurred)
    record: dict[str, Any] = {
        "event_id": conversion_event_id(network, conv),
        "network": network,
        "network_conversion_id": conv or None,
        "click_id": params.get("click_id") or None,
        "merchant": params.get("merchant"),
        "status": params.get("status", "unknown"),
        "sale_amount": _number(params.get("amount", "0")),
        "commission_amount": _number(params.get("commission")),
        "currency": (params.get("currency") or "").upper() or None,
        "occurred_at": occurred,
        "collector_received_at": now,
        "order_ref": params.get("order_ref") or None,
    }
    return record
