"""The real-time snapshot read from Redis that the stream's own metric code wrote."""

from __future__ import annotations

import time

import pytest
import redis

from pipelines.dashboard import realtime

from .conftest import row

pytestmark = pytest.mark.engines


def traffic(now_min: int) -> list[dict]:
    """Two humans and a bot over three minutes; known totals."""
    rows = []
    for m, session, page in (
        (now_min - 2, "s1", "/best-vpn"),
        (now_min - 1, "s2", "/best-laptops"),
        (now_min, "s1", "/best-vpn"),
    ):
        rows.append(row(m, "page_view", session, page_path=page, segments=("researcher",)))
        rows.append(row(m, "product_impression", session, page_path=page))
    rows.append(
        row(
            now_min - 1,
            "affiliate_click",
            "s2",
            page_path="/best-laptops",
            link_id="l1",
            merchant="amazon",
            position=1,
            segments=("deal_seeker",),
        )
    )
    rows.append(row(now_min, "affiliate_click", "s1", link_id="l2", merchant="bestbuy", position=2))
    rows.append(row(now_min, "affiliate_click", "s1", link_id="l3", merchant="amazon", position=10))
    rows.append(row(now_min, "page_view", "bot1", is_bot=True))
    rows.append(row(now_min, "affiliate_click", "bot1", is_bot=True, merchant="amazon", position=1, link_id="l1"))
    return rows


def test_snapshot_counts_what_the_stream_wrote(realtime_source):
    now = time.time()
    now_min = int(now // 60)
    realtime_source.emit(
        traffic(now_min),
        ledger={"received": 20, "valid": 17, "late": 1, "invalid:schema_violation": 2, "invalid:unparseable": 1},
    )
    snap = realtime.read(
        redis.Redis.from_url(realtime_source.redis_url), realtime.Window(realtime_source.prefix, now, 60), 300
    )

    assert len(snap["minutes"]) == 60
    assert snap["minutes"][-1] == now_min
    assert snap["page_views"][-3:] == [1, 1, 1]
    assert snap["clicks"][-3:] == [0, 1, 2]
    assert sum(snap["page_views"][:-3]) == 0
    assert snap["totals"] == {
        "page_views": 3,
        "clicks": 3,
        "impressions": 3,
        "conversions": 0,
        "events": 9,
        "bot_events": 2,
        "active_sessions": 2,
    }
    assert snap["ctr"] == pytest.approx(1.0)
    assert snap["bot_rate"] == pytest.approx(2 / 11)
    assert snap["top_pages"][0] == {"page": "site1/best-vpn", "page_views": 2, "clicks": 2, "ctr": 1.0}
    assert snap["top_pages"][1] == {"page": "site1/best-laptops", "page_views": 1, "clicks": 1, "ctr": 1.0}
    assert snap["merchants"] == [{"merchant": "amazon", "clicks": 2}, {"merchant": "bestbuy", "clicks": 1}]
    assert [p["position"] for p in snap["positions"]] == ["1", "2", "10"], "positions in numeric order"
    assert snap["segments"] == [
        {"segment": "researcher", "events": 3, "share": 0.75},
        {"segment": "deal_seeker", "events": 1, "share": 0.25},
    ]
    assert snap["dead_letters"] == {
        "received": 20,
        "invalid": 4,
        "rate": pytest.approx(0.2),
        "by_reason": {"schema_violation": 2, "unparseable": 1, "late": 1},
    }
    fresh = snap["freshness"]
    assert fresh["newest_minute"] == now_min
    assert 0 <= fresh["age_s"] < 60
    assert not fresh["stale"]
    assert fresh["last_batch_minute"] == now_min


def test_no_data_is_stale_with_no_age(realtime_source):
    snap = realtime.read(
        redis.Redis.from_url(realtime_source.redis_url), realtime.Window(realtime_source.prefix, time.time(), 60), 300
    )
    assert snap["totals"]["page_views"] == 0
    assert snap["ctr"] is None
    assert snap["bot_rate"] is None
    assert snap["dead_letters"]["rate"] is None
    assert snap["freshness"] == {
        "newest_minute": None,
        "age_s": None,
        "last_batch_minute": None,
        "stale_after_s": 300,
        "stale": True,
    }


def test_data_older_than_the_window_is_found_and_stale(realtime_source):
    now = time.time()
    old = int(now // 60) - 90
    realtime_source.emit([row(old, "page_view", "s9")])
    snap = realtime.read(
        redis.Redis.from_url(realtime_source.redis_url), realtime.Window(realtime_source.prefix, now, 60), 300
    )
    assert snap["totals"]["page_views"] == 0, "outside the window"
    assert snap["freshness"]["newest_minute"] == old
    assert snap["freshness"]["age_s"] == pytest.approx(now - old * 60, abs=0.1)
    assert snap["freshness"]["stale"]


def test_recent_data_past_the_threshold_is_stale(realtime_source):
    now = time.time()
    realtime_source.emit([row(int(now // 60) - 10, "page_view", "s9")])
    snap = realtime.read(
        redis.Redis.from_url(realtime_source.redis_url), realtime.Window(realtime_source.prefix, now, 60), 300
    )
    assert snap["totals"]["page_views"] == 1
    assert snap["freshness"]["age_s"] > 600
    assert snap["freshness"]["stale"]


def test_plan_uses_read_commands_only():
    cmds = realtime.plan(realtime.Window("aa", 1_700_000_000, 60)) + realtime.lookback_plan(
        realtime.Window("aa", 1_700_000_000, 60)
    )
    assert {name for name, _ in cmds} == {"hgetall", "pfcount", "exists"}
    assert all(k.startswith("aa:") for _, keys in cmds for k in keys)
