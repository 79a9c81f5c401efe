"""Enrichment rules: device/browser/OS from the user agent, bot signals, marketing channel.

All pure and cached by input string (a site sees few distinct user agents and referrers), so the
stream pays the ua-parser cost once per distinct value per Python worker.

Bot detection ORs independent signals and records which fired (``bot_reasons``); bots are flagged,
kept in the lake, and left out of the real-time business metrics:

- ``ua_crawler``: crawlerdetect's list matches the user agent;
- ``ua_spider``: ua-parser classifies the device as a spider;
- ``ua_missing``: a browser event without a user agent;
- ``headless``: the user agent names a headless or automation browser;
- ``no_viewport``: a browser event without viewport dimensions (real browsers always report them);
- ``rate``: more than N events per session per minute (applied per micro-batch by the job).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

_HEADLESS_MARKERS = ("headlesschrome", "phantomjs", "selenium", "puppeteer", "playwright", "webdriver")
SEARCH_ENGINES = ("google.", "bing.com", "duckduckgo.com", "yahoo.", "ecosia.org", "baidu.com", "yandex.")
SOCIAL_NETWORKS = (
    "facebook.com",
    "instagram.com",
    "t.co",
    "twitter.com",
    "x.com",
    "linkedin.com",
    "reddit.com",
    "pinterest.",
    "youtube.com",
    "tiktok.com",
    "news.ycombinator.com",
)
PAID_MEDIUMS = frozenset({"cpc", "ppc", "paid", "paidsearch", "paid_search", "cpm", "display", "paid_social"})


@dataclass(frozen=True)
class Device:
    device_type: str  # desktop, mobile, tablet, bot, unknown
    browser: str
    os: str
    is_spider: bool


@lru_cache(maxsize=1)
def _crawler_detect() -> Any:
    from crawlerdetect import CrawlerDetect

    return CrawlerDetect()


@lru_cache(maxsize=4096)
def parse_user_agent(user_agent: str | None) -> Device:
    if not user_agent:
        return Device("unknown", "unknown", "unknown", False)
    from ua_parser import parse

    parsed = parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else "Other"
    os_family = parsed.os.family if parsed.os else "Other"
    device_family = parsed.device.family if parsed.device else "Other"
    if device_family == "Spider":
        return Device("bot", browser, os_family, True)
    ua = user_agent.lower()
    if "ipad" in ua or "tablet" in ua or ("android" in ua and "mobile" not in ua):
        kind = "tablet"
    elif "mobi" in ua or "iphone" in ua or os_family in ("iOS", "Android"):
        kind = "mobile"
    elif os_family in ("Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora"):
        kind = "desktop"
    else:
        kind = "unknown"
    return Device(kind, browser, os_family, False)


@lru_cache(maxsize=4096)
def user_agent_bot_reasons(user_agent: str | None) -> tuple[str, ...]:
    if not user_agent:
        return ("ua_missing",)
    reasons: list[str] = []
    if _crawler_detect().isCrawler(user_agent):
        reasons.append("ua_crawler")
    if parse_user_agent(user_agent).is_spider:
        reasons.append("ua_spider")
    if any(m in user_agent.lower() for m in _HEADLESS_MARKERS):
        reasons.append("headless")
    return tuple(reasons)


def bot_reasons(event_type: str, record: Mapping[str, Any]) -> tuple[str, ...]:
    """Per-event bot signals (the rate signal needs the whole batch; see the job)."""
    ctx = record.get("context")
    if ctx is None:  # server-to-server postbacks (conversions) carry no client signals
        return ()
    reasons = list(user_agent_bot_reasons(ctx.get("user_agent")))
    if not ctx.get("viewport_width") or not ctx.get("viewport_height"):
        reasons.append("no_viewport")
    return tuple(reasons)


def _host(url: str | None) -> str:
    if not url:
        return ""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _matches(host: str, patterns: tuple[str, ...]) -> bool:
    return any(host == p or host.endswith("." + p) or (p.endswith(".") and p in host) for p in patterns)


@lru_cache(maxsize=4096)
def classify_channel(
    utm_source: str | None,
    utm_medium: str | None,
    referrer: str | None,
    page_url: str | None = None,
    has_click_id: bool = False,
) -> str:
    """Marketing channel of a session from UTM parameters, ad click ids and the referrer.

    Order (first match wins): paid_search (paid medium or an ad click id with a search source),
    paid_social, email, affiliate, display, organic_social (utm), organic_search / social /
    referral (referrer host), internal (same host as the page), direct.
    """
    medium = (utm_medium or "").strip().lower()
    source = (utm_source or "").strip().lower()
    ref_host = _host(referrer)
    if medium in PAID_MEDIUMS or has_click_id:
        if medium in ("paid_social",) or any(s in source for s in ("facebook", "instagram", "linkedin", "tiktok")):
            return "paid_social"
        if medium in ("cpm", "display"):
            return "display"
        return "paid_search"
    if medium in ("email", "newsletter") or source in ("newsletter", "email"):
        return "email"
    if medium == "affiliate":
        return "affiliate"
    if medium in ("social", "social-network", "social-media", "sm"):
        return "organic_social"
    if medium or source:
        return "other_campaign"
    if not ref_host:
        return "direct"
    if ref_host == _host(page_url):
        return "internal"
    if _matches(ref_host, SEARCH_ENGINES):
        return "organic_search"
    if _matches(ref_host, SOCIAL_NETWORKS):
        return "organic_social"
    return "referral"


def channel_of(record: Mapping[str, Any]) -> str:
    ctx = record.get("context")
    if ctx is None:
        return "postback"
    utm = ctx.get("utm") or {}
    return classify_channel(
        utm.get("source"),
        utm.get("medium"),
        ctx.get("referrer"),
        ctx.get("page_url"),
        bool(ctx.get("gclid") or ctx.get("msclkid") or ctx.get("fbclid")),
    )
