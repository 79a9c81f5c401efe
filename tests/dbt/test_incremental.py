"""Late events within the lookback change the marts exactly as a full refresh would; duplicates
never double count."""

from __future__ import annotations

import duckdb

from tests.dbt.conftest import Warehouse
from tests.dbt.scenario import uid

COMPARED = [
    "intermediate.int_sessions",
    "intermediate.int_click_chains",
    "marketing.attribution",
    "marketing.campaign_effectiveness",
    "product.link_performance",
    "product.merchant_performance",
    "product.chart_engagement",
    "segments.segments_daily",
    "self_service.explorer_daily",
]


def test_incremental_run_with_late_events_equals_a_full_refresh(late_warehouses: tuple[Warehouse, Warehouse]):
    inc, full = late_warehouses
    con = duckdb.connect()
    con.execute(f"attach '{inc.db}' as inc (read_only)")
    con.execute(f"attach '{full.db}' as full_db (read_only)")
    for table in COMPARED:
        n_inc = con.sql(f"select count(*) from inc.{table}").fetchall()
        n_full = con.sql(f"select count(*) from full_db.{table}").fetchall()
        assert n_inc == n_full, table
        diff = con.sql(
            f"(select * from inc.{table} except all select * from full_db.{table}) "
            f"union all (select * from full_db.{table} except all select * from inc.{table})"
        ).fetchall()
        assert diff == [], f"{table}: incremental and full refresh differ: {diff[:5]}"


def test_late_page_view_joins_its_session_and_a_new_hour_adds_a_conversion(
    late_warehouses: tuple[Warehouse, Warehouse],
):
    inc, _ = late_warehouses
    assert inc.query(
        "select sessions, page_views, affiliate_clicks, conversions, commission::double "
        "from marketing.campaign_effectiveness where utm_source = '(none)'"
    ) == [(2, 4, 1, 1, 4.0)]
    assert inc.query(
        "select sessions, page_views, affiliate_clicks, conversions, revenue::double, commission::double "
        "from marketing.campaign_effectiveness where utm_source = 'newsletter'"
    ) == [(2, 2, 2, 2, 1200.0, 48.0)]
    assert inc.query(f"select page_views from intermediate.int_sessions where client_session_id = '{uid('SB')}'") == [
        (2,)
    ]
    assert inc.query("select count(*), count(distinct event_id) from staging.stg_events__page_views") == [(8, 8)]
    assert inc.query("select count(distinct conversion_id) from marketing.attribution") == [(3,)]
