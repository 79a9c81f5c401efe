{{ config(unique_key='activity_date', cluster_by=cluster_keys(['activity_date'])) }}

{%- set dates = reprocess_dates() %}

-- Campaign (utm source / medium / campaign of the session) × day. Sessions count on their start
-- day, clicks on the click day, conversions on the conversion day (last click's session campaign).
-- revenue = order value, commission = our earnings; EPC = commission / click; RPM = commission per
-- 1,000 page views. Bot sessions are excluded.
with

sessions as (select * from {{ ref('int_sessions') }} where not is_bot),
clicks as (select * from {{ ref('int_click_chains') }} where not is_bot),
conversions as (select * from {{ ref('stg_events__conversions') }} where status != 'reversed'),

session_metrics as (

    select
        session_date as activity_date, utm_source, utm_medium, utm_campaign,
        count(*) as sessions,
        sum(case when is_engaged then 1 else 0 end) as engaged_sessions,
        sum(page_views) as page_views
    from sessions
    where {{ date_window_filter(dates, 'session_date') }}
    group by 1, 2, 3, 4

),

click_metrics as (

    select
        clicks.click_date as activity_date, sessions.utm_source, sessions.utm_medium, sessions.utm_campaign,
        count(*) as affiliate_clicks
    from clicks
    inner join sessions on clicks.session_key = sessions.session_key
    where {{ date_window_filter(dates, 'clicks.click_date') }}
    group by 1, 2, 3, 4

),

conversion_metrics as (

    select
        conversions.event_date as activity_date, sessions.utm_source, sessions.utm_medium, sessions.utm_campaign,
        count(*) as conversions,
        sum(conversions.sale_amount) as revenue,
        sum(conversions.commission_amount) as commission
    from conversions
    inner join clicks on conversions.click_id = clicks.click_id
    inner join sessions on clicks.session_key = sessions.session_key
    where {{ date_window_filter(dates, 'conversions.event_date') }}
    group by 1, 2, 3, 4

),

keys as (

    select activity_date, utm_source, utm_medium, utm_campaign from session_metrics
    union
    select activity_date, utm_source, utm_medium, utm_campaign from click_metrics
    union
    select activity_date, utm_source, utm_medium, utm_campaign from conversion_metrics

),

final as (

    select
        keys.activity_date,
        keys.utm_source,
        keys.utm_medium,
        keys.utm_campaign,
        coalesce(s.sessions, 0) as sessions,
        coalesce(s.engaged_sessions, 0) as engaged_sessions,
        coalesce(s.page_views, 0) as page_views,
        coalesce(c.affiliate_clicks, 0) as affiliate_clicks,
        {{ safe_divide('coalesce(c.affiliate_clicks, 0)', 's.page_views') }} as click_through_rate,
        coalesce(v.conversions, 0) as conversions,
        cast(coalesce(v.revenue, 0) as decimal(18, 2)) as revenue,
        cast(coalesce(v.commission, 0) as decimal(18, 2)) as commission,
        {{ safe_divide('coalesce(v.commission, 0)', 'c.affiliate_clicks') }} as earnings_per_click,
        {{ safe_divide('coalesce(v.commission, 0) * 1000', 's.page_views') }} as revenue_per_1000_page_views
    from keys
    left join session_metrics as s
        on keys.activity_date = s.activity_date and keys.utm_source = s.utm_source
        and keys.utm_medium = s.utm_medium and keys.utm_campaign = s.utm_campaign
    left join click_metrics as c
        on keys.activity_date = c.activity_date and keys.utm_source = c.utm_source
        and keys.utm_medium = c.utm_medium and keys.utm_campaign = c.utm_campaign
    left join conversion_metrics as v
        on keys.activity_date = v.activity_date and keys.utm_source = v.utm_source
        and keys.utm_medium = v.utm_medium and keys.utm_campaign = v.utm_campaign

)

select * from final
