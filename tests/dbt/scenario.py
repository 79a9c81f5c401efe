"""A small, fully known lake: the dbt tests assert exact numbers on it.

Day 2026-11-20 (UTC):
* visitor A, session A1 01:00 (google / cpc / laptops-q4): page view, impressions at positions 1
  and 2, a price sort, a click on position 1 (amazon, no conversion).
* visitor A again at 03:00 with the SAME client session id (reused) from the newsletter campaign:
  page view, click on position 2 (bestbuy) that converts at 04:00 (sale 1000, commission 40).
  Two server sessions; the conversion's path is A1 → A2.
* visitor B 02:00, no campaign (direct): page view (delivered twice), impression, click on position
  1 (walmart, delivered twice) converting at 03:01 (sale 100, commission 4; postback delivered twice).
* visitor C 02:30, a bot: page view and a click that "converts" (excluded from marketing marts).
* no visitor id, client session S_D: two page views 10 minutes apart (one session).
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

from pipelines.batch.generate import lake_row
from pipelines.contracts import samples

DAY = datetime(2026, 11, 20, tzinfo=UTC)
_TEMPLATES = samples.one_of_each()
_counter = iter(range(1, 1_000_000))


def at(hour: int, minute: int = 0, second: int = 0, day: int = 20) -> int:
    return int(datetime(2026, 11, day, hour, minute, second, tzinfo=UTC).timestamp() * 1000)


def uid(label: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"aa-test:{label}"))


CAMPAIGNS: dict[str, dict[str, Any]] = {
    "google": {"source": "google", "medium": "cpc", "campaign": "laptops-q4", "term": None, "content": None},
    "email": {"source": "newsletter", "medium": "email", "campaign": "weekly-deals", "term": None, "content": None},
    "none": {"source": None, "medium": None, "campaign": None, "term": None, "content": None},
}


def browser_event(
    event_type: str,
    label: str,
    *,
    t: int,
    visitor: str | None,
    session: str,
    campaign: str = "none",
    page_view: str = "pv",
    **fields: Any,
) -> dict[str, Any]:
    record = copy.deepcopy(_TEMPLATES[event_type])
    record["event_id"] = uid(f"{event_type}:{label}")
    ctx = record["context"]
    ctx.update(
        visitor_id=uid(visitor) if visitor else None,
        session_id=uid(session),
        page_path="/best-laptops",
        site_id="site-bestlaptops",
        utm=dict(CAMPAIGNS[campaign]),
        referrer=None,
        geo_country="US",
        device_class="desktop",
        session_index=1,
        device_created_at=t,
        device_sent_at=t,
        collector_received_at=t,
    )
    if "page_view_id" in record:
        record["page_view_id"] = uid(page_view)
    record.update(fields)
    return record


def conversion(label: str, *, click: str, t: int, sale: float, commission: float, merchant: str) -> dict[str, Any]:
    record = copy.deepcopy(_TEMPLATES["conversion"])
    record.update(
        event_id=uid(label),
        network_conversion_id=label,
        click_id=uid(click),
        merchant=merchant,
        status="pending",
        sale_amount=sale,
        commission_amount=commission,
        occurred_at=t,
        collector_received_at=t,
    )
    return record


def click(label: str, *, product: str, position: int, merchant: str, **kw: Any) -> dict[str, Any]:
    return browser_event(
        "affiliate_click",
        label,
        click_id=uid(f"click-{label}"),
        link_id=f"{product}-{merchant}",
        product_id=product,
        merchant=merchant,
        position=position,
        placement="comparison_table",
        impression_id=uid(f"imp-{label}"),
        **kw,
    )


def impression(label: str, *, product: str, position: int, **kw: Any) -> dict[str, Any]:
    return browser_event(
        "product_impression", label, impression_id=uid(f"imp-{label}"), product_id=product, position=position, **kw
    )


def rows(events: list[tuple[str, dict[str, Any]]], *, bot: bool = False) -> list[dict[str, Any]]:
    return [lake_row(t, r, offset=next(_counter), bot_reasons="ua" if bot else "") for t, r in events]


def base_rows() -> list[dict[str, Any]]:
    a1 = {"visitor": "A", "session": "SA", "campaign": "google", "page_view": "pvA1"}
    a2 = {"visitor": "A", "session": "SA", "campaign": "email", "page_view": "pvA2"}
    b = {"visitor": "B", "session": "SB", "page_view": "pvB"}
    c = {"visitor": "C", "session": "SC", "page_view": "pvC"}
    d = {"visitor": None, "session": "SD"}
    out = rows(
        [
            ("page_view", browser_event("page_view", "a1-pv", t=at(1), **a1)),
            ("product_impression", impression("a1-1", product="p-001", position=1, t=at(1, 0, 5), **a1)),
            ("product_impression", impression("a1-2", product="p-002", position=2, t=at(1, 0, 6), **a1)),
            (
                "chart_interaction",
                browser_event("chart_interaction", "a1-sort", t=at(1, 2), action="sort", field="price", **a1),
            ),
            ("affiliate_click", click("a1-1", product="p-001", position=1, merchant="amazon", t=at(1, 5), **a1)),
            ("page_view", browser_event("page_view", "a2-pv", t=at(3), **a2)),
            ("affiliate_click", click("a2", product="p-002", position=2, merchant="bestbuy", t=at(3, 2), **a2)),
            (
                "conversion",
                conversion("conv-a2", click="click-a2", t=at(4), sale=1000.0, commission=40.0, merchant="bestbuy"),
            ),
            ("page_view", browser_event("page_view", "b-pv", t=at(2), **b)),
            ("product_impression", impression("b-1", product="p-003", position=1, t=at(2, 0, 5), **b)),
            ("affiliate_click", click("b-1", product="p-003", position=1, merchant="walmart", t=at(2, 1), **b)),
            (
                "conversion",
                conversion("conv-b", click="click-b-1", t=at(3, 1), sale=100.0, commission=4.0, merchant="walmart"),
            ),
            ("page_view", browser_event("page_view", "d-pv1", t=at(5), page_view="pvD1", **d)),
            ("page_view", browser_event("page_view", "d-pv2", t=at(5, 10), page_view="pvD2", **d)),
        ]
    )
    out += rows(
        [
            ("page_view", browser_event("page_view", "c-pv", t=at(2, 30), **c)),
            ("affiliate_click", click("c-1", product="p-004", position=1, merchant="amazon", t=at(2, 31), **c)),
        ],
        bot=True,
    )
    out += rows(
        [
            (
                "conversion",
                conversion("conv-c", click="click-c-1", t=at(3, 31), sale=50.0, commission=2.0, merchant="amazon"),
            )
        ]
    )
    # Duplicates: the same events delivered again (another Kafka offset, received later).
    dups = [r for r in out if r["event_id"] in {uid("page_view:b-pv"), uid("affiliate_click:b-1"), uid("conv-b")}]
    out += [{**r, "kafka_offset": r["kafka_offset"] + 10_000, "received_ms": r["received_ms"] + 5_000} for r in dups]
    return out


def late_rows() -> list[dict[str, Any]]:
    """Arrive after the first build: a late page view of B at 02:20 (inside the 6 h lookback; joins
    B's session) and a new hour: visitor E at 06:00 from the newsletter, clicking and converting."""
    b = {"visitor": "B", "session": "SB", "page_view": "pvB2"}
    e = {"visitor": "E", "session": "SE", "campaign": "email", "page_view": "pvE"}
    return rows(
        [
            ("page_view", browser_event("page_view", "b-pv-late", t=at(2, 20), **b)),
            ("page_view", browser_event("page_view", "e-pv", t=at(6), **e)),
            ("affiliate_click", click("e-1", product="p-005", position=3, merchant="amazon", t=at(6, 1), **e)),
            (
                "conversion",
                conversion("conv-e", click="click-e-1", t=at(6, 30), sale=200.0, commission=8.0, merchant="amazon"),
            ),
            # ... and the late page view delivered twice.
            ("page_view", browser_event("page_view", "b-pv-late", t=at(2, 20), **b)),
        ]
    )
