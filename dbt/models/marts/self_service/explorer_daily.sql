{{ config(unique_key='activity_date', cluster_by=cluster_keys(['activity_date', 'dimension'])) }}

{%- set dates = reprocess_dates() %}
{%- set dimensions = {
    'page': 'page_path', 'campaign': 'utm_campaign', 'channel': 'channel', 'device': 'device_type',
    'country': 'geo_country', 'merchant': 'merchant', 'position': 'position',
} %}

-- The dashboard explorer's table: day × dimension × value with page views, clicks, CTR,
-- conversions, revenue, commission and EPC, one block per dimension (page, campaign, channel,
-- device, country, merchant, position, segment). Page views have no merchant/position; those
-- values read '(n/a)'. Bots excluded. Sum over one dimension's values = the day's total.
with

sessions as (select * from {{ ref('int_sessions') }} where not is_bot),
-- the sessions of the page views and clicks of the rebuilt days: each ends at or after its events
-- (conversions reach their click's session, which can be older: they join all sessions)
day_sessions as (select * from sessions where {{ dates_from_filter(dates, 'session_end') }}),
sessionized as (

    select event_id, session_key from {{ ref('int_sessionized_events') }}
    where {{ date_window_filter(dates, 'event_date') }}

),
clicks as (select * from {{ ref('int_click_chains') }} where not is_bot),
segments as (select * from {{ ref('int_session_segments') }}),

page_view_facts as (

    select
        pv.event_date as activity_date, s.session_key, pv.page_path, s.utm_campaign, s.channel, s.device_type,
        s.geo_country, '(n/a)' as merchant, '(n/a)' as position,
        1 as page_views, 0 as clicks, 0 as conversions, 0.0 as revenue, 0.0 as commission
    from {{ ref('stg_events__page_views') }} as pv
    inner join sessionized on pv.event_id = sessionized.event_id
    inner join day_sessions as s on sessionized.session_key = s.session_key
    where {{ date_window_filter(dates, 'pv.event_date') }}

),

click_facts as (

    select
        c.click_date as activity_date, s.session_key, c.page_path, s.utm_campaign, s.channel, s.device_type,
        s.geo_country, c.merchant, cast(c.position as varchar) as position,
        0 as page_views, 1 as clicks, 0 as conversions, 0.0 as revenue, 0.0 as commission
    from clicks as c
    inner join day_sessions as s on c.session_key = s.session_key
    where {{ date_window_filter(dates, 'c.click_date') }}

),

conversion_facts as (

    select
        v.event_date as activity_date, s.session_key, c.page_path, s.utm_campaign, s.channel, s.device_type,
        s.geo_country, c.merchant, cast(c.position as varchar) as position,
        0 as page_views, 0 as clicks, 1 as conversions, v.sale_amount as revenue, v.commission_amount as commission
    from {{ ref('stg_events__conversions') }} as v
    inner join clicks as c on v.click_id = c.click_id
    inner join sessions as s on c.session_key = s.session_key
    where v.status != 'reversed' and {{ date_window_filter(dates, 'v.event_date') }}

),

facts as (

    select * from page_view_facts
    union all
    select * from click_facts
    union all
    select * from conversion_facts

),

{% set metrics %}
        sum(page_views) as page_views,
        sum(clicks) as clicks,
        sum(conversions) as conversions,
        sum(revenue) as revenue,
        sum(commission) as commission
{% endset %}

by_dimension as (

    {%- for name, column in dimensions.items() %}
    select activity_date, '{{ name }}' as dimension, coalesce(cast({{ column }} as varchar), '(none)') as dimension_value,
        {{ metrics }}
    from facts
    group by 1, 2, 3
    union all
    {%- endfor %}
    select facts.activity_date, 'segment' as dimension, coalesce(segments.segment, '(none)') as dimension_value,
        {{ metrics }}
    from facts
    left join (
        select * from segments where session_key in (select session_key from facts)
    ) as segments on facts.session_key = segments.session_key
    group by 1, 2, 3

),

final as (

    select
        activity_date,
        dimension,
        dimension_value,
        page_views,
        clicks,
        {{ safe_divide('clicks', 'page_views') }} as click_through_rate,
        conversions,
        cast(revenue as decimal(18, 2)) as revenue,
        cast(commission as decimal(18, 2)) as commission,
        {{ safe_divide('commission', 'clicks') }} as earnings_per_click
    from by_dimension

)

select * from final
