{{ config(unique_key='activity_date', cluster_by=cluster_keys(['activity_date'])) }}

{%- set dates = reprocess_dates() %}

-- Day × page × placement × position: impressions → clicks → conversions (bots excluded).
-- Impressions have no placement; they count under the comparison chart placement of their position.
with

impressions as (

    select event_date as activity_date, page_path, position, count(*) as impressions
    from {{ ref('stg_events__product_impressions') }}
    where not is_bot and {{ date_window_filter(dates, 'event_date') }}
    group by 1, 2, 3

),

clicks as (

    select
        click_date as activity_date, page_path, placement, position,
        count(*) as clicks,
        sum(case when impression_id is not null then 1 else 0 end) as clicks_with_impression,
        sum(conversions) as conversions,
        sum(commission) as commission
    from {{ ref('int_click_chains') }}
    where not is_bot and {{ date_window_filter(dates, 'click_date') }}
    group by 1, 2, 3, 4

),

final as (

    select
        coalesce(clicks.activity_date, impressions.activity_date) as activity_date,
        coalesce(clicks.page_path, impressions.page_path) as page_path,
        coalesce(clicks.placement, 'comparison_table') as placement,
        coalesce(clicks.position, impressions.position) as position,
        coalesce(impressions.impressions, 0) as impressions,
        coalesce(clicks.clicks, 0) as clicks,
        {{ safe_divide('coalesce(clicks.clicks, 0)', 'impressions.impressions') }} as click_rate,
        coalesce(clicks.conversions, 0) as conversions,
        cast(coalesce(clicks.commission, 0) as decimal(18, 2)) as commission
    from clicks
    full outer join impressions
        on clicks.activity_date = impressions.activity_date
        and clicks.page_path = impressions.page_path
        and clicks.position = impressions.position
        and clicks.placement = 'comparison_table'

)

select * from final
