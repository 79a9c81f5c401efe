"""Realistic sample events for every contract: demo traffic, tests and benchmarks.

Deterministic for a seed. A generated visitor session walks a comparison page the way real
visitors do: a page view, impressions of the visible products, a few chart interactions, and
(sometimes) affiliate clicks, some of which later convert through a network postback.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SITES = ("site-bestlaptops", "site-coffeegear")
PAGES = {
    "site-bestlaptops": [("/best-laptops", "Best laptops 2026"), ("/best-gaming-laptops", "Best gaming laptops")],
    "site-coffeegear": [("/espresso-machines", "Espresso machines compared"), ("/grinders", "Burr grinders")],
}
PRODUCTS = [f"p-{i:03d}" for i in range(1, 25)]
MERCHANTS = {"amazon": "amazon.com", "bestbuy": "bestbuy.com", "walmart": "walmart.com"}
NETWORKS = {"amazon": "amazon", "bestbuy": "impact", "walmart": "impact"}
CAMPAIGNS = [
    {"source": "google", "medium": "cpc", "campaign": "laptops-q4", "term": "best laptop", "content": None},
    {"source": "newsletter", "medium": "email", "campaign": "weekly-deals", "term": None, "content": "top"},
    {"source": None, "medium": None, "campaign": None, "term": None, "content": None},
]
REFERRERS = [None, "https://www.google.com/", "https://www.bing.com/", "https://news.ycombinator.com/"]
BROWSERS = [
    (
        "desktop",
        1440,
        900,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    ),
    (
        "mobile",
        390,
        844,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    ),
    (
        "tablet",
        820,
        1180,
        "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    ),
]
GEO = [("US", "US-CA", "San Jose"), ("GB", "GB-LND", "London"), ("DE", "DE-BE", "Berlin")]


@dataclass(frozen=True)
class Sample:
    event_type: str
    record: dict[str, Any]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def session_events(
    rng: random.Random,
    start_ms: int,
    *,
    click_rate: float = 0.35,
    returning: tuple[str, int] | None = None,
    page_views: int = 1,
) -> Iterator[Sample]:
    """One visitor session; ``returning`` = (visitor id, its previous session index) for a visitor
    who comes back (typically through another channel), so multi-touch attribution has paths.
    ``page_views`` comparison pages of the same site are visited in turn (the first is the landing
    page with the campaign's query); ``click_rate`` is the chance of an affiliate click per page view.
    With the defaults the output is what it always was for a seed."""
    site = rng.choice(SITES)
    path, title = rng.choice(PAGES[site])
    device, vw, vh, ua = rng.choice(BROWSERS)
    country, region, city = rng.choice(GEO)
    utm = dict(rng.choice(CAMPAIGNS))
    session_id, visitor_id, page_view_id = _uuid(rng), _uuid(rng), _uuid(rng)
    if returning is not None:
        visitor_id = returning[0]
    t = start_ms
    query = f"?utm_source={utm['source']}&utm_campaign={utm['campaign']}" if utm["source"] else ""

    def context(at: int) -> dict[str, Any]:
        return {
            "tracker_version": "js-1.0.0",
            "site_id": site,
            "page_url": f"https://{site}.example{path}{query}",
            "page_path": path,
            "page_title": title,
            "referrer": rng.choice(REFERRERS) if utm["source"] else None,
            "utm": utm,
            "gclid": None,
            "fbclid": None,
            "msclkid": None,
            "session_id": session_id,
            "session_index": 1 + rng.randrange(3) if returning is None else returning[1] + 1,
            "visitor_id": visitor_id,
            "device_created_at": at,
            "device_sent_at": at + 150,
            "collector_received_at": at + 180,
            "device_class": device,
            "viewport_width": vw,
            "viewport_height": vh,
            "language": "en-US",
            "timezone": "America/Los_Angeles",
            "consent_state": "granted",
            "geo_country": country,
            "geo_region": region,
            "geo_city": city,
            "ip_hash": f"{rng.getrandbits(256):064x}",
            "user_agent": ua,
        }

    for page in range(page_views):
        if page:  # the visitor moves on to another comparison page of the site
            t += rng.randint(5_000, 90_000)
            path, title = rng.choice(PAGES[site])
            page_view_id, query = _uuid(rng), ""
        yield Sample(
            "page_view",
            {
                "event_id": _uuid(rng),
                "context": context(t),
                "page_view_id": page_view_id,
                "navigation_type": "navigate",
                "wix_page_id": None,
            },
        )
        order = rng.sample(PRODUCTS, 8)
        impressions: dict[str, str] = {}
        chart_id = "main-chart"
        for pos, product in enumerate(order[: rng.randint(3, 8)], start=1):
            t += rng.randint(50, 900)
            impressions[product] = _uuid(rng)
            yield Sample(
                "product_impression",
                {
                    "event_id": _uuid(rng),
                    "context": context(t),
                    "page_view_id": page_view_id,
                    "impression_id": impressions[product],
                    "chart_id": chart_id,
                    "product_id": product,
                    "position": pos,
                    "chart_state": {"sort_field": "rating", "sort_direction": "desc", "filters": {}, "page": 1},
                },
            )
        for _ in range(rng.randint(0, 3)):
            t += rng.randint(500, 8000)
            action = rng.choice(["filter", "sort", "expand", "compare", "paginate"])
            rng.shuffle(order)
            yield Sample(
                "chart_interaction",
                {
                    "event_id": _uuid(rng),
                    "context": context(t),
                    "page_view_id": page_view_id,
                    "chart_id": chart_id,
                    "action": action,
                    "field": {"filter": "brand", "sort": "price"}.get(action),
                    "value": {"filter": "acme", "sort": "asc"}.get(action),
                    "result_count": len(order),
                    "visible_product_order": list(order),
                },
            )
        if rng.random() < click_rate:
            t += rng.randint(1000, 20000)
            product = rng.choice(list(impressions))
            merchant = rng.choice(list(MERCHANTS))
            click_id = _uuid(rng)
            yield Sample(
                "affiliate_click",
                {
                    "event_id": _uuid(rng),
                    "context": context(t),
                    "page_view_id": page_view_id,
                    "click_id": click_id,
                    "link_id": f"{product}-{merchant}",
                    "product_id": product,
                    "merchant": merchant,
                    "position": list(impressions).index(product) + 1,
                    "placement": "comparison_table",
                    "chart_id": chart_id,
                    "impression_id": impressions[product],
                    "destination_domain": MERCHANTS[merchant],
                    "transport": "fetch_keepalive",
                },
            )
            if rng.random() < 0.3:
                network, conv_id = NETWORKS[merchant], f"c-{rng.getrandbits(40):x}"
                sale = round(rng.uniform(20, 1500), 2)
                yield Sample(
                    "conversion",
                    {
                        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{network}:{conv_id}")),
                        "network": network,
                        "network_conversion_id": conv_id,
                        "click_id": click_id,
                        "merchant": merchant,
                        "status": "pending",
                        "sale_amount": sale,
                        "commission_amount": round(sale * 0.04, 2),
                        "currency": "USD",
                        "occurred_at": t + 3_600_000,
                        "collector_received_at": t + 3_700_000,
                        "order_ref": None,
                    },
                )


def generate(
    n_sessions: int,
    *,
    seed: int = 7,
    start_ms: int = 1_795_000_000_000,
    click_rate: float = 0.35,
    returning_rate: float = 0.0,
    session_gap_ms: tuple[int, int] = (1000, 5000),
    page_views: tuple[int, int] = (1, 1),
) -> list[Sample]:
    """Events of ``n_sessions`` sessions starting ``session_gap_ms`` apart (times the index); with
    ``returning_rate``, that share of sessions comes from earlier visitors who return after more
    than 30 minutes, so attribution sees multi-touch paths; each session views between
    ``page_views[0]`` and ``page_views[1]`` pages. Defaults keep every earlier output."""
    rng = random.Random(seed)
    out: list[Sample] = []
    visitors: list[tuple[str, int, int]] = []  # (visitor id, session index, session start)
    for i in range(n_sessions):
        start = start_ms + i * rng.randint(*session_gap_ms)
        back = None
        if returning_rate:
            # a visitor comes back after more than 30 minutes: a new session (and touch) server-side too
            eligible = [v for v in visitors if v[2] <= start - 35 * 60_000]
            if eligible and rng.random() < returning_rate:
                pick = eligible[rng.randrange(len(eligible))]
                visitors.remove(pick)
                back = (pick[0], pick[1])
        pages = page_views[0] if page_views[0] == page_views[1] else rng.randint(*page_views)
        events = list(session_events(rng, start, click_rate=click_rate, returning=back, page_views=pages))
        out.extend(events)
        if returning_rate and "context" in events[0].record:
            ctx = events[0].record["context"]
            visitors.append((str(ctx["visitor_id"]), int(ctx["session_index"]), start))
    return out


def one_of_each(seed: int = 7) -> dict[str, dict[str, Any]]:
    """At least one valid record of every event type (not the dead letter)."""
    found: dict[str, dict[str, Any]] = {}
    rng = random.Random(seed)
    while len(found) < 5:
        for s in session_events(rng, 1_795_000_000_000, click_rate=1.0):
            found.setdefault(s.event_type, s.record)
    return found


def message_key(event_type: str, record: dict[str, Any]) -> str:
    """Kafka key per topics.yaml: session id for browser events, click id for conversions."""
    if "context" in record:
        return str(record["context"]["session_id"])
    if event_type == "conversion":
        return str(record.get("click_id") or record["event_id"])
    return str(record.get("event_id") or "")
