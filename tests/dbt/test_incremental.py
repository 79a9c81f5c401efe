"""Late events within the lookback change the marts exactly as a full refresh would; duplicates
never double count."""

from __future__ import annotations

import duckdb

from tests.dbt.conftest import Warehouse
from tests.dbt.scenario import uid

COMPARED = [
    "intermediate.int_sessionized_events",
    "intermediate.int_sessions",
    "intermediate.int_session_segments",
    "intermediate.int_click_chains",
    "marketing.attribution",
    "marketing.campaign_effectiveness",
    "product.link_performance",
    "product.merchant_performance",
    "product.chart_engagement",
    "segments.segments_daily",
    "self_service.explorer_daily",
]


def assert_same_tables(inc: Warehouse, full: Warehouse) -> None:
    """Every compared table holds the same rows (as multisets), except the load time of a row."""
    con = duckdb.connect()
    con.execute(f"attach '{inc.db}' as inc (read_only)")
    con.execute(f"attach '{full.db}' as full_db (read_only)")
    for table in COMPARED:
        schema, name = table.split(".")
        columns = [
            c
            for (c,) in con.sql(
                "select column_name from information_schema.columns where table_catalog = 'full_db' "
                f"and table_schema = '{schema}' and table_name = '{name}' order by ordinal_position"
            ).fetchall()
            if c != "_loaded_at"
        ]
        assert columns, table
        cols = ", ".join(columns)
        n_inc = con.sql(f"select count(*) from inc.{table}").fetchall()
        n_full = con.sql(f"select count(*) from full_db.{table}").fetchall()
        assert n_inc == n_full, table
        diff = con.sql(
            f"(select {cols} from inc.{table} except all select {cols} from full_db.{table}) "
            f"union all (select {cols} from full_db.{table} except all select {cols} from inc.{table})"
        ).fetchall()
        assert diff == [], f"{table}: incremental and full refresh differ: {diff[:5]}"


def test_incremental_run_with_late_events_equals_a_full_refresh(late_warehouses: tuple[Warehouse, Warehouse]):
    assert_same_tables(*late_warehouses)


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


def test_next_day_late_click_conversion_impression_and_duplicates_equal_a_full_refresh(
    next_day_warehouses: tuple[Warehouse, Warehouse],
):
    assert_same_tables(*next_day_warehouses)


def test_next_day_late_events_land_where_a_full_refresh_puts_them(next_day_warehouses: tuple[Warehouse, Warehouse]):
    inc, _ = next_day_warehouses
    # A's third session starts with the late 05:50 click (after its two sessions of day 1).
    assert inc.query(
        "select session_number, session_start::varchar, page_views, affiliate_clicks from intermediate.int_sessions "
        f"where visitor_id = '{uid('A')}' order by session_start"
    ) == [(1, "2026-11-20 01:00:00", 1, 1), (2, "2026-11-20 03:00:00", 1, 1), (3, "2026-11-21 05:50:00", 1, 2)]
    # F's late 07:40 page view joins its 07:00 and 07:55 sessions; 10:00 is its second session.
    assert inc.query(
        "select session_number, session_start::varchar, session_end::varchar, page_views from intermediate.int_sessions "
        f"where visitor_id = '{uid('F')}' order by session_start"
    ) == [(1, "2026-11-21 07:00:00", "2026-11-21 07:55:00", 3), (2, "2026-11-21 10:00:00", "2026-11-21 10:00:00", 1)]
    # The late conversion of A's day-1 click counts on the click's day in link performance and on
    # its own day in merchant performance; the late impressions reach their clicks.
    assert inc.query(
        "select impressions, clicks, conversions, commission::double from product.link_performance "
        "where activity_date = '2026-11-20' and position = 1"
    ) == [(2, 2, 2, 16.0)]
    assert inc.query(
        "select conversions, commission::double from product.merchant_performance "
        "where activity_date = '2026-11-21' and merchant = 'amazon'"
    ) == [(1, 12.0)]
    assert inc.query(
        "select click_id, conversions, commission::double, impression_time::varchar, impression_position "
        "from intermediate.int_click_chains where click_id in "
        f"('{uid('click-a1-1')}', '{uid('click-e-1')}', '{uid('click-f-2')}', '{uid('click-a3')}') order by click_time"
    ) == [
        (uid("click-a1-1"), 1, 12.0, "2026-11-20 01:00:05", 1),
        (uid("click-e-1"), 1, 8.0, "2026-11-21 06:30:00", 3),
        (uid("click-a3"), 1, 20.0, None, None),
        (uid("click-f-2"), 0, 0.0, "2026-11-21 07:19:50", 1),
    ]
    # Duplicates never double count.
    assert inc.query(
        "select count(*), count(distinct event_id), sum(commission_amount) from staging.stg_events__conversions"
    ) == [(6, 6, 86.0)]
    assert inc.query(
        f"select count(*) from intermediate.int_click_chains where click_id = '{uid('click-f-1')}' and conversions = 0"
    ) == [(1,)]


def test_hourly_run_reading_only_new_files_equals_a_full_refresh(new_batch_warehouses: tuple[Warehouse, Warehouse]):
    assert_same_tables(*new_batch_warehouses)


def test_hourly_run_reads_only_new_and_rewritten_lake_files(new_batch_warehouses: tuple[Warehouse, Warehouse]):
    inc, _ = new_batch_warehouses
    compiled = inc.work / "target" / "compiled" / "affiliate_analytics" / "models" / "staging"
    # batch 5 is new, batch 4 was re-written (a new version); batches 1-3 were loaded before. The
    # batch-3 conversion file is read again: its only row lost deduplication to batch 4's later
    # copy (conversions keep the last received), so no staging row records that file.
    expected = {
        "stg_events__page_views": {"b000000004", "b000000005"},
        "stg_events__product_impressions": {"b000000004", "b000000005"},
        "stg_events__affiliate_clicks": {"b000000004", "b000000005"},
        "stg_events__conversions": {"b000000003", "b000000004"},
    }
    for model, batches in expected.items():
        sql = (compiled / f"{model}.sql").read_text()
        read = [part.split("'")[-1] for part in sql.split(".parquet'")[:-1]]
        assert {name.rsplit("-", 1)[-1] for name in read} == batches, (model, read)
    # the late 07:50 page view and the 07:55 copy that ranks first: new rows of the 07 h
    # partition, which already held loaded files
    assert inc.query(
        "select count(*) from staging.stg_events__page_views "
        "where _source_file like 'event_type=page_view/date=2026-11-21/hour=07/%-b000000005.parquet'"
    ) == [(2,)]


def test_duplicates_in_a_new_batch_never_double_count(new_batch_warehouses: tuple[Warehouse, Warehouse]):
    inc, full = new_batch_warehouses
    for wh in (inc, full):
        assert wh.query("select count(*) - count(distinct event_id) from staging.stg_events__page_views") == [(0,)]
        # the copy received first is kept: the loaded 07:00 one, the new 07:55 one (1 s earlier)
        assert wh.query(
            "select received_at::varchar from staging.stg_events__page_views where event_id in "
            f"('{uid('page_view:f-pv')}', '{uid('page_view:f-pv2')}') order by event_time"
        ) == [("2026-11-21 07:00:00",), ("2026-11-21 07:54:59",)]
    assert inc.query(
        "select session_number, page_views from intermediate.int_sessions "
        f"where visitor_id = '{uid('F')}' order by session_start"
    ) == [(1, 4), (2, 1)]
    assert inc.query(
        f"select impression_position from intermediate.int_click_chains where click_id = '{uid('click-a3')}'"
    ) == [(1,)]
