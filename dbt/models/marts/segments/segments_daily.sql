{{ config(unique_key='activity_date', cluster_by=cluster_keys(['activity_date'])) }}

{%- set dates = reprocess_dates() %}

-- Day × segment: sessions and visitors in the segment (membership from the stream's rules engine),
-- their affiliate clicks, and conversions of those clicks (bots excluded).
with

sessions as (select * from {{ ref('int_sessions') }} where not is_bot),
members as (select * from {{ ref('int_session_segments') }}),
-- a session's clicks are on or after its start day
clicks as (select * from {{ ref('int_click_chains') }} where not is_bot and {{ dates_from_filter(dates, 'click_date') }}),

final as (

    select
        sessions.session_date as activity_date,
        members.segment,
        count(distinct sessions.session_key) as sessions,
        count(distinct sessions.actor_id) as visitors,
        sum(sessions.page_views) as page_views,
        sum(sessions.affiliate_clicks) as affiliate_clicks,
        sum(coalesce(c.conversions, 0)) as conversions,
        cast(sum(coalesce(c.commission, 0)) as decimal(18, 2)) as commission,
        {{ safe_divide('sum(coalesce(c.conversions, 0))', 'count(distinct sessions.session_key)') }} as conversions_per_session
    from members
    inner join sessions on members.session_key = sessions.session_key
    left join (
        select session_key, sum(conversions) as conversions, sum(commission) as commission
        from clicks group by session_key
    ) as c on sessions.session_key = c.session_key
    where {{ date_window_filter(dates, 'sessions.session_date') }}
    group by 1, 2

)

select * from final
