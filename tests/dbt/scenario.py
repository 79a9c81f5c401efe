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


def duplicated(rows_: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same events delivered again (another Kafka offset, received 5 s later)."""
    return [{**r, "kafka_offset": next(_counter), "received_ms": r["received_ms"] + 5_000} for r in rows_]


A3 = {"visitor": "A", "session": "SA3", "campaign": "email", "page_view": "pvA3"}
F = {"visitor": "F", "session": "SF", "campaign": "google", "page_view": "pvF"}


def next_day_rows() -> list[dict[str, Any]]:
    """Day 2026-11-21, after the late rows (every event type, so every staging window moves on):
    * visitor A returns at 06:00 (newsletter): page view, a brand filter, a click on position 1
      (bestbuy; its impression is not delivered) converting at 09:30 (sale 500, commission 20);
    * visitor F 07:00 (google / cpc): page view, impression at position 2, a sort, a click on it
      (amazon) at 07:03 and a click on position 1 (walmart; impression not delivered) at 07:20,
      page views at 07:55 (35 minutes later: a second session) and 10:00 (a third)."""
    return rows(
        [
            ("page_view", browser_event("page_view", "a3-pv", t=at(6, day=21), **A3)),
            (
                "chart_interaction",
                browser_event(
                    "chart_interaction", "a3-filter", t=at(6, 1, day=21), action="filter", field="brand", **A3
                ),
            ),
            ("affiliate_click", click("a3", product="p-006", position=1, merchant="bestbuy", t=at(6, 2, day=21), **A3)),
            ("page_view", browser_event("page_view", "f-pv", t=at(7, day=21), **F)),
            ("product_impression", impression("f-1", product="p-007", position=2, t=at(7, 0, 5, day=21), **F)),
            (
                "chart_interaction",
                browser_event("chart_interaction", "f-sort", t=at(7, 1, day=21), action="sort", field="price", **F),
            ),
            ("affiliate_click", click("f-1", product="p-007", position=2, merchant="amazon", t=at(7, 3, day=21), **F)),
            (
                "affiliate_click",
                click("f-2", product="p-008", position=1, merchant="walmart", t=at(7, 20, day=21), **F),
            ),
            ("page_view", browser_event("page_view", "f-pv2", t=at(7, 55, day=21), **{**F, "page_view": "pvF2"})),
            ("page_view", browser_event("page_view", "f-pv3", t=at(10, day=21), **{**F, "page_view": "pvF3"})),
            (
                "conversion",
                conversion(
                    "conv-a3", click="click-a3", t=at(9, 30, day=21), sale=500.0, commission=20.0, merchant="bestbuy"
                ),
            ),
        ]
    )


def late_next_day_rows(next_day: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Arrive after the next day's run, all within the 6 h lookback:
    * a late click of A at 05:50 (position 3, amazon), before A's 06:00 page view: A's day-2 session
      now starts with it (a new session key; the old key disappears);
    * a late page view of F at 07:40 joins F's 07:00 and 07:55 sessions into one;
    * the late impression of F's 07:20 click (position 1), and a late impression of visitor E's
      day-1 click (its device clock is a day ahead: event time 2026-11-21 06:30);
    * a late conversion of A's day-1 click on position 1 (amazon) at 08:00 (sale 300, commission 12);
    * duplicates: A's conversion and F's 07:03 click delivered again."""
    e = {"visitor": "E", "session": "SE", "campaign": "email", "page_view": "pvE"}
    dups = [r for r in next_day if r["event_id"] in {uid("conv-a3"), uid("affiliate_click:f-1")}]
    return rows(
        [
            (
                "affiliate_click",
                click("a-early", product="p-009", position=3, merchant="amazon", t=at(5, 50, day=21), **A3),
            ),
            ("page_view", browser_event("page_view", "f-pv-late", t=at(7, 40, day=21), **{**F, "page_view": "pvFL"})),
            ("product_impression", impression("f-2", product="p-008", position=1, t=at(7, 19, 50, day=21), **F)),
            ("product_impression", impression("e-1", product="p-005", position=3, t=at(6, 30, day=21), **e)),
            (
                "conversion",
                conversion(
                    "conv-a1", click="click-a1-1", t=at(8, day=21), sale=300.0, commission=12.0, merchant="amazon"
                ),
            ),
        ]
    ) + duplicated(dups)


def new_batch_rows(next_day: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The next stream batch after the next day's late rows (an hourly run reads only this batch's
    files, plus the re-delivered batch the test writes again):
    * a new hour: visitor G at 11:00 (direct): page view and a click on position 2 (walmart);
    * events hours old (event time 05:00-11:00, inside the lookback; new files in hour partitions
      that already hold loaded files): a page view of F at 07:50 (F's first session gets a fourth
      page view) and the impression of A's 06:02 click at 06:01:50;
    * duplicates of loaded events: F's 07:00 page view received 5 s later (the loaded copy stays)
      and F's 07:55 page view received 1 s earlier than the loaded copy (it ranks first: it
      replaces the loaded row, as a full refresh would keep it)."""
    g = {"visitor": "G", "session": "SG", "page_view": "pvG"}
    loaded = {r["event_id"]: r for r in next_day}
    earlier = loaded[uid("page_view:f-pv2")]
    return (
        rows(
            [
                ("page_view", browser_event("page_view", "g-pv", t=at(11, day=21), **g)),
                (
                    "affiliate_click",
                    click("g-1", product="p-010", position=2, merchant="walmart", t=at(11, 1, day=21), **g),
                ),
                (
                    "page_view",
                    browser_event("page_view", "f-pv-late2", t=at(7, 50, day=21), **{**F, "page_view": "pvFL2"}),
                ),
                ("product_impression", impression("a3", product="p-006", position=1, t=at(6, 1, 50, day=21), **A3)),
            ]
        )
        + duplicated([loaded[uid("page_view:f-pv")]])
        + [{**earlier, "kafka_offset": next(_counter), "received_ms": earlier["received_ms"] - 1_000}]
    )
