-- Paths to conversion: for each non-reversed conversion joined to its (non-bot) click, the visitor's
-- touchpoints from `attribution_lookback_days` before the click up to the click's own session.
-- A view: the attribution mart reads the conversion days it rebuilds, and the windows partition by
-- conversion_date first (conversion_id determines it), so that filter reaches the conversions
-- instead of every path of the lake being computed each run.
{{ config(materialized='view') }}
with

conversions as (select * from {{ ref('stg_events__conversions') }}),
clicks as (select * from {{ ref('int_click_chains') }}),
sessions as (select session_key, actor_id, session_start from {{ ref('int_sessions') }}),
touchpoints as (select * from {{ ref('int_touchpoints') }}),

converted as (

    select
        conversions.event_id as conversion_id,
        conversions.event_time as conversion_time,
        conversions.event_date as conversion_date,
        conversions.click_id,
        conversions.merchant,
        conversions.network,
        conversions.sale_amount as revenue,
        conversions.commission_amount as commission,
        sessions.actor_id,
        sessions.session_start as click_session_start
    from conversions
    inner join clicks on conversions.click_id = clicks.click_id
    inner join sessions on clicks.session_key = sessions.session_key
    where conversions.status != 'reversed' and not clicks.is_bot

),

paths as (

    select
        converted.*,
        touchpoints.session_key,
        touchpoints.touch_time,
        touchpoints.channel,
        touchpoints.utm_source,
        touchpoints.utm_medium,
        touchpoints.utm_campaign
    from converted
    inner join touchpoints
        on converted.actor_id = touchpoints.actor_id
        and touchpoints.touch_time <= converted.click_session_start
        and touchpoints.touch_time >= {{ dbt.dateadd('day', -var('attribution_lookback_days'), 'converted.click_session_start') }}

),

final as (

    select
        conversion_id,
        conversion_time,
        conversion_date,
        click_id,
        merchant,
        network,
        revenue,
        commission,
        session_key,
        touch_time,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        row_number() over (partition by conversion_date, conversion_id order by touch_time, session_key) as touch_index,
        count(*) over (partition by conversion_date, conversion_id) as touch_count
    from paths

)

select * from final
