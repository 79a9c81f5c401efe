-- One row per server-side session: acquisition (first event's channel and UTM), device, geo,
-- engagement counts and the segments any of its events carried.
-- Incremental: the sessions with an event at or after S = reprocess_since() (the only ones a run can
-- change) are recomputed from all their events (from the earliest such session's start on) and
-- replace the old rows of those keys and every old session that ended at or after S (strategy
-- `replace`: a session merged into another by a late event loses its key).
{{ config(materialized='incremental', incremental_strategy='replace', unique_key='session_key', replace_from='session_end') }}

{%- set since = reprocess_since() %}
{%- set first_start = none %}
{%- if since is not none %}
    {%- set found = run_query("select min(session_start) from " ~ ref('int_sessionized_events') ~ " where " ~ since_filter(since, 'event_time')).columns[0].values()[0] %}
    {%- set first_start = since if found is none else timestamp_literal(found) %}
{%- endif %}

with

events as (

    select * from {{ ref('int_sessionized_events') }}
    where {{ since_filter(first_start, 'event_time') }}
    {%- if since is not none %}
        and session_key in (
            select session_key from {{ ref('int_sessionized_events') }} where {{ since_filter(since, 'event_time') }}
        )
    {%- endif %}

),

firsts as (

    select * from events
    qualify row_number() over (partition by session_key order by event_time, event_id) = 1

),

counts as (

    select
        session_key,
        min(event_time) as session_start,
        max(event_time) as session_end,
        count(*) as events,
        sum(case when event_type = 'page_view' then 1 else 0 end) as page_views,
        sum(case when event_type = 'product_impression' then 1 else 0 end) as impressions,
        sum(case when event_type = 'chart_interaction' then 1 else 0 end) as chart_interactions,
        sum(case when event_type = 'affiliate_click' then 1 else 0 end) as affiliate_clicks,
        max(case when is_bot then 1 else 0 end) = 1 as is_bot
    from events
    group by session_key

),

final as (

    select
        counts.session_key,
        firsts.actor_id,
        firsts.visitor_id,
        firsts.client_session_id,
        firsts.session_number,
        counts.session_start,
        cast(counts.session_start as date) as session_date,
        counts.session_end,
        {{ seconds_between('counts.session_start', 'counts.session_end') }} as duration_seconds,
        firsts.site_id,
        firsts.page_path as landing_page_path,
        coalesce(firsts.channel, 'unknown') as channel,
        coalesce(firsts.utm_source, '(none)') as utm_source,
        coalesce(firsts.utm_medium, '(none)') as utm_medium,
        coalesce(firsts.utm_campaign, '(none)') as utm_campaign,
        coalesce(firsts.device_type, 'unknown') as device_type,
        coalesce(firsts.geo_country, 'unknown') as geo_country,
        counts.events,
        counts.page_views,
        counts.impressions,
        counts.chart_interactions,
        counts.affiliate_clicks,
        (counts.page_views >= 2 or counts.chart_interactions > 0 or counts.affiliate_clicks > 0
            or {{ seconds_between('counts.session_start', 'counts.session_end') }} >= 10) as is_engaged,
        counts.is_bot
    from counts
    inner join firsts on counts.session_key = firsts.session_key

)

select * from final
