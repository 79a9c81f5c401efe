-- Impression → click → conversion, one row per click id: the click (first of repeated deliveries of
-- the same click id), the impression it came from, its session, and its conversions (not reversed).
-- Incremental: the rows of the click ids a run can change are recomputed and replace the old ones
-- (delete+insert on click_id; click ids never disappear): click ids with a click event at or after
-- S = reprocess_since() (new, late or repeated clicks; their session may have changed too), with a
-- conversion at or after S (a late conversion of an old click), or whose impression has an event at
-- or after S. A first click before S kept its session (nothing before S changed): its session key
-- is read from this table instead of searching every sessionised event.
-- _loaded_at: when the row was last recomputed (the marts rebuild the click days of these rows).
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='click_id') }}

{%- set since = reprocess_since() %}

with

clicks as (select * from {{ ref('stg_events__affiliate_clicks') }}),
impressions as (select * from {{ ref('stg_events__product_impressions') }}),
conversions as (select * from {{ ref('stg_events__conversions') }}),

{% if since is not none -%}
changed as (

    select click_id from clicks where {{ since_filter(since, 'event_time') }}
    union
    select click_id from conversions where click_id is not null and {{ since_filter(since, 'event_time') }}
    union
    select clicks.click_id
    from clicks
    inner join impressions on clicks.impression_id = impressions.impression_id
    where {{ since_filter(since, 'impressions.event_time') }}

),

sessionized as (

    select event_id, session_key from {{ ref('int_sessionized_events') }}
    where {{ since_filter(since, 'event_time') }}
    union all
    select click_event_id as event_id, session_key from {{ this }}
    where click_time < cast('{{ since }}' as timestamp) and click_id in (select click_id from changed)

),
{%- else -%}
sessionized as (select event_id, session_key from {{ ref('int_sessionized_events') }}),
{%- endif %}

first_clicks as (

    select * from clicks
    {%- if since is not none %}
    where click_id in (select click_id from changed)
    {%- endif %}
    qualify row_number() over (partition by click_id order by event_time, event_id) = 1

),

first_impressions as (

    -- only the columns used: the impression ids are searched over all impressions (an impression
    -- can be older than S, or dated after its click by a device clock), so the scan is the cost
    select impression_id, event_id, event_time, position from impressions
    {%- if since is not none %}
    where impression_id in (select impression_id from first_clicks)
    {%- endif %}
    qualify row_number() over (partition by impression_id order by event_time, event_id) = 1

),

click_conversions as (

    select
        click_id,
        count(*) as conversions,
        sum(sale_amount) as revenue,
        sum(commission_amount) as commission,
        min(event_time) as first_conversion_time
    from conversions
    where click_id is not null and status != 'reversed'
    {%- if since is not none %}
        and click_id in (select click_id from changed)
    {%- endif %}
    group by click_id

),

final as (

    select
        first_clicks.click_id,
        first_clicks.event_id as click_event_id,
        first_clicks.event_time as click_time,
        first_clicks.event_date as click_date,
        sessionized.session_key,
        first_clicks.visitor_id,
        first_clicks.site_id,
        first_clicks.page_path,
        first_clicks.page_view_id,
        first_clicks.link_id,
        first_clicks.product_id,
        first_clicks.merchant,
        first_clicks.position,
        coalesce(first_clicks.placement, 'unknown') as placement,
        first_clicks.chart_id,
        first_clicks.impression_id,
        first_impressions.event_time as impression_time,
        first_impressions.position as impression_position,
        first_clicks.is_bot,
        coalesce(click_conversions.conversions, 0) as conversions,
        coalesce(click_conversions.revenue, 0) as revenue,
        coalesce(click_conversions.commission, 0) as commission,
        click_conversions.first_conversion_time,
        {{ loaded_at() }} as _loaded_at
    from first_clicks
    left join sessionized on first_clicks.event_id = sessionized.event_id
    left join first_impressions on first_clicks.impression_id = first_impressions.impression_id
    left join click_conversions on first_clicks.click_id = click_conversions.click_id

)

select * from final
