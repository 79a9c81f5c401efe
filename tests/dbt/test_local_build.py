"""`dbt build` on the local (DuckDB) target over the known lake, with exact expected numbers."""

from __future__ import annotations

import math

import pytest

from tests.dbt.conftest import Warehouse
from tests.dbt.scenario import uid

DAY = "2026-11-20"


def test_staging_deduplicates_by_event_id_and_flags_bots(warehouse: Warehouse):
    assert warehouse.query("select count(*), count(distinct event_id) from staging.stg_events__page_views") == [(6, 6)]
    assert warehouse.query("select count(*) from staging.stg_events__conversions") == [(3,)]
    assert warehouse.query("select count(*) from staging.stg_events__affiliate_clicks where is_bot") == [(1,)]


def test_sessions_split_a_reused_client_session_id_after_the_gap_and_group_a_missing_visitor(warehouse: Warehouse):
    rows = warehouse.query(
        "select client_session_id, count(*), sum(page_views), bool_or(is_bot) from intermediate.int_sessions "
        "group by 1 order by 1"
    )
    by_client = {r[0]: r[1:] for r in rows}
    assert by_client[uid("SA")] == (2, 2, False)  # one client id, two server sessions (115 min apart)
    assert by_client[uid("SD")] == (1, 2, False)  # no visitor id: grouped by the client session
    assert by_client[uid("SC")] == (1, 1, True)
    assert sum(r[1] for r in rows) == 5


def test_campaign_effectiveness_counts_sessions_clicks_and_money_per_campaign(warehouse: Warehouse):
    rows = warehouse.query(
        "select utm_source, utm_medium, utm_campaign, sessions, engaged_sessions, page_views, affiliate_clicks, "
        "conversions, revenue::double, commission::double, earnings_per_click, revenue_per_1000_page_views "
        f"from marketing.campaign_effectiveness where activity_date = '{DAY}' order by utm_source"
    )
    assert rows[0][:11] == ("(none)", "(none)", "(none)", 2, 2, 3, 1, 1, 100.0, 4.0, 4.0)
    assert rows[0][11] == pytest.approx(4000 / 3)
    assert rows[1] == ("google", "cpc", "laptops-q4", 1, 1, 1, 1, 0, 0.0, 0.0, 0.0, 0.0)
    assert rows[2] == ("newsletter", "email", "weekly-deals", 1, 1, 1, 1, 1, 1000.0, 40.0, 40.0, 40000.0)


def test_attribution_spreads_a_two_touch_path_and_skips_bot_conversions(warehouse: Warehouse):
    rows = warehouse.query(
        "select conversion_id, touch_index, channel, first_touch_credit::double, last_touch_credit::double, "
        "linear_credit::double, position_based_credit::double, time_decay_credit::double, "
        "linear_revenue::double from marketing.attribution order by conversion_id, touch_index"
    )
    by_conversion: dict[str, list[tuple]] = {}
    for r in rows:
        by_conversion.setdefault(r[0], []).append(r[1:])
    assert set(by_conversion) == {uid("conv-a2"), uid("conv-b")}
    w1, w2 = 0.5 ** (3 / (7 * 24)), 0.5 ** (1 / (7 * 24))  # touches 3 h and 1 h before the conversion
    first, last = by_conversion[uid("conv-a2")]
    assert first[:6] == (1, "paid_search", 1.0, 0.0, 0.5, 0.5)
    assert last[:6] == (2, "email", 0.0, 1.0, 0.5, 0.5)
    assert first[6] == pytest.approx(w1 / (w1 + w2), abs=1e-6)
    assert last[6] == pytest.approx(w2 / (w1 + w2), abs=1e-6)
    assert first[7] == last[7] == 500.0
    assert by_conversion[uid("conv-b")] == [(1, "direct", 1.0, 1.0, 1.0, 1.0, 1.0, 100.0)]


def test_link_performance_gives_click_rate_by_position(warehouse: Warehouse):
    rows = warehouse.query(
        "select position, impressions, clicks, click_rate, conversions, commission::double "
        f"from product.link_performance where activity_date = '{DAY}' order by position"
    )
    assert rows == [(1, 2, 2, 1.0, 1, 4.0), (2, 1, 1, 1.0, 1, 40.0)]


def test_merchant_performance_counts_each_postback_once(warehouse: Warehouse):
    rows = warehouse.query(
        "select merchant, clicks, conversions, revenue::double, commission::double "
        "from product.merchant_performance order by merchant"
    )
    assert rows == [("amazon", 1, 1, 50.0, 2.0), ("bestbuy", 1, 1, 1000.0, 40.0), ("walmart", 1, 1, 100.0, 4.0)]


def test_chart_engagement_links_a_sort_to_the_click_that_followed(warehouse: Warehouse):
    rows = warehouse.query(
        "select action, field, interactions, interactions_followed_by_click, click_after_rate from product.chart_engagement"
    )
    assert rows == [("sort", "price", 1, 1, 1.0)]


def test_segments_daily_uses_the_stream_segments(warehouse: Warehouse):
    rows = warehouse.query(
        "select segment, sessions, visitors, page_views, affiliate_clicks, conversions, commission::double "
        f"from segments.segments_daily where activity_date = '{DAY}' order by segment"
    )
    assert rows == [("deal_seeker", 2, 1, 2, 2, 1, 40.0), ("high_intent", 3, 2, 3, 3, 2, 44.0)]


def test_explorer_daily_totals_agree_across_dimensions(warehouse: Warehouse):
    rows = warehouse.query(
        "select dimension, dimension_value, page_views, clicks, conversions, commission::double, earnings_per_click "
        f"from self_service.explorer_daily where activity_date = '{DAY}' and dimension in ('channel', 'merchant') "
        "order by 1, 2"
    )
    assert rows == [
        ("channel", "direct", 3, 1, 1, 4.0, 4.0),
        ("channel", "email", 1, 1, 1, 40.0, 40.0),
        ("channel", "paid_search", 1, 1, 0, 0.0, 0.0),
        ("merchant", "(n/a)", 5, 0, 0, 0.0, None),
        ("merchant", "amazon", 0, 1, 0, 0.0, 0.0),
        ("merchant", "bestbuy", 0, 1, 1, 40.0, 40.0),
        ("merchant", "walmart", 0, 1, 1, 4.0, 4.0),
    ]
    totals = warehouse.query(
        "select dimension, sum(page_views), sum(clicks), sum(conversions) from self_service.explorer_daily "
        "where dimension != 'segment' group by 1"
    )
    assert {t[1:] for t in totals} == {(5, 3, 2)}


def test_pii_columns_are_tagged_with_the_schema_class_in_the_docs(warehouse: Warehouse):
    import json

    manifest = json.loads((warehouse.work / "target" / "manifest.json").read_text())
    node = manifest["nodes"]["model.affiliate_analytics.stg_events__page_views"]
    assert node["columns"]["ip_hash"]["meta"] == {"pii": "ip_hash"}
    assert "pii_geo" in node["columns"]["geo_city"]["tags"]
    assert node["columns"]["visitor_id"]["meta"] == {"pii": "visitor_id"}
    assert not math.isnan(len(manifest["unit_tests"]))
    assert any("attribution_credits_for_1_2_3_and_5_touch_paths" in k for k in manifest["unit_tests"])
