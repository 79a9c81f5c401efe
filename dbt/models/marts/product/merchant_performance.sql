{{ config(unique_key='activity_date', cluster_by=cluster_keys(['activity_date'])) }}

{%- set dates = reprocess_dates() %}

-- Day × merchant: clicks on the click day, conversions and money on the conversion day (bots excluded).
with

clicks as (

    select click_date as activity_date, merchant, count(*) as clicks
    from {{ ref('int_click_chains') }}
    where not is_bot and {{ date_window_filter(dates, 'click_date') }}
    group by 1, 2

),

conversions as (

    select
        event_date as activity_date,
        merchant,
        sum(case when status != 'reversed' then 1 else 0 end) as conversions,
        sum(case when status = 'reversed' then 1 else 0 end) as reversed_conversions,
        sum(case when status != 'reversed' then sale_amount else 0 end) as revenue,
        sum(case when status != 'reversed' then commission_amount else 0 end) as commission
    from {{ ref('stg_events__conversions') }}
    where {{ date_window_filter(dates, 'event_date') }}
    group by 1, 2

),

final as (

    select
        coalesce(clicks.activity_date, conversions.activity_date) as activity_date,
        coalesce(clicks.merchant, conversions.merchant) as merchant,
        coalesce(clicks.clicks, 0) as clicks,
        coalesce(conversions.conversions, 0) as conversions,
        coalesce(conversions.reversed_conversions, 0) as reversed_conversions,
        {{ safe_divide('coalesce(conversions.conversions, 0)', 'clicks.clicks') }} as conversion_rate,
        cast(coalesce(conversions.revenue, 0) as decimal(18, 2)) as revenue,
        cast(coalesce(conversions.commission, 0) as decimal(18, 2)) as commission,
        {{ safe_divide('coalesce(conversions.commission, 0)', 'clicks.clicks') }} as earnings_per_click
    from clicks
    full outer join conversions
        on clicks.activity_date = conversions.activity_date and clicks.merchant = conversions.merchant

)

select * from final
