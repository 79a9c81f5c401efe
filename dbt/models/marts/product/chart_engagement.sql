{{ config(unique_key='activity_date', cluster_by=cluster_keys(['activity_date'])) }}

{%- set dates = reprocess_dates() %}

-- Day × page × chart × action × field: how often each chart interaction happened and how often an
-- affiliate click followed it in the same page view (which filters/sorts precede clicks).
with

interactions as (

    select * from {{ ref('stg_events__chart_interactions') }}
    where not is_bot and {{ date_window_filter(dates, 'event_date') }}

),

-- only clicks after an interaction count, so clicks before the first reprocessed day never do
clicks as (

    select page_view_id, event_time from {{ ref('stg_events__affiliate_clicks') }}
    where not is_bot and {{ dates_from_filter(dates, 'event_date') }}

),

followed as (

    select
        interactions.event_id,
        max(case when clicks.event_time > interactions.event_time then 1 else 0 end) as followed_by_click
    from interactions
    left join clicks on interactions.page_view_id = clicks.page_view_id
    group by interactions.event_id

),

final as (

    select
        interactions.event_date as activity_date,
        interactions.page_path,
        coalesce(interactions.chart_id, 'unknown') as chart_id,
        interactions.action,
        coalesce(interactions.field, '(none)') as field,
        count(*) as interactions,
        count(distinct interactions.page_view_id) as page_views_with_action,
        sum(followed.followed_by_click) as interactions_followed_by_click,
        {{ safe_divide('sum(followed.followed_by_click)', 'count(*)') }} as click_after_rate
    from interactions
    inner join followed on interactions.event_id = followed.event_id
    group by 1, 2, 3, 4, 5

)

select * from final
