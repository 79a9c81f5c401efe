"""Request context without personal data: geo from the CDN's viewer headers, the client IP truncated
(/24 IPv4, /48 IPv6) and hashed with a secret salt. The raw IP never leaves this module.

Order matters (Snowplow's lesson): geo is taken first from CloudFront's headers, then the IP is
truncated and hashed; nothing downstream can recover it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from urllib.parse import unquote


@dataclass(frozen=True)
class RequestContext:
    ip_hash: str | None
    user_agent: str | None
    origin: str | None
    geo_country: str | None
    geo_region: str | None
    geo_city: str | None

    def as_map(self) -> dict[str, str]:
        """For the dead letter's request_context (never a raw IP)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _octet(p: str) -> bool:
    return 0 < len(p) <= 3 and p.isascii() and p.isdigit() and (p == "0" or p[0] != "0") and int(p) <= 255


def truncate_ip(raw: str) -> str | None:
    """'203.0.113.77' → '203.0.113.0/24'; '2001:db8:1:2::1' → '2001:db8:1::/48'; None if not an IP."""
    text = raw.strip().strip("[]")
    parts = text.split(".")
    if len(parts) == 4 and all(map(_octet, parts)):  # dotted IPv4, as ipaddress parses it (a per-request fast path)
        return f"{parts[0]}.{parts[1]}.{parts[2]}.0/24"
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def hash_ip(raw: str | None, salt: bytes) -> str | None:
    """Hex HMAC-SHA256 of the truncated network, keyed with the salt."""
    if not raw:
        return None
    net = truncate_ip(raw)
    if net is None:
        return None
    return hmac.new(salt, net.encode(), hashlib.sha256).hexdigest()


def client_ip(headers: dict[str, str], peer: str | None, source: str) -> str | None:
    """The viewer's IP from the configured source: the socket peer, CloudFront-Viewer-Address
    ('ip:port', IPv6 in brackets or bare), or the first X-Forwarded-For hop."""
    if source == "cloudfront-viewer-address":
        value = headers.get("cloudfront-viewer-address")
        if value:
            host, sep, port = value.rpartition(":")
            return host if sep and port.isdigit() else value
    elif source == "x-forwarded-for":
        value = headers.get("x-forwarded-for")
        if value:
            return value.split(",", 1)[0].strip()
    return peer


def _header(headers: dict[str, str], name: str, limit: int, *, decode: bool = False) -> str | None:
    value = headers.get(name)
    if not value:
        return None
    return (unquote(value) if decode else value)[:limit]


def request_context(headers: dict[str, str], peer: str | None, source: str, salt: bytes) -> RequestContext:
    """Headers are lower-case names → latin-1 decoded values (as ASGI gives them)."""
    return RequestContext(
        ip_hash=hash_ip(client_ip(headers, peer, source), salt),
        user_agent=_header(headers, "user-agent", 512),
        origin=_header(headers, "origin", 256),
        geo_country=_header(headers, "cloudfront-viewer-country", 8),
        geo_region=_region(headers),
        geo_city=_header(headers, "cloudfront-viewer-city", 128, decode=True),
    )


def _region(headers: dict[str, str]) -> str | None:
    """CloudFront sends the subdivision without the country ('CA'); the contract wants ISO 3166-2 ('US-CA')."""
    region = _header(headers, "cloudfront-viewer-country-region", 16)
    country = _header(headers, "cloudfront-viewer-country", 8)
    if region and country and not region.startswith(f"{country}-"):
        return f"{country}-{region}"
    return region
