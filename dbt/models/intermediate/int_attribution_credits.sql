{{ config(materialized='view') }}

{%- set models = ['first_touch', 'last_touch', 'linear', 'position_based', 'time_decay'] %}

-- Attribution credits per (conversion, touch) for five models; each model's credits sum to 1 per
-- conversion. Position-based: 1 touch 100%, 2 touches 50/50, else 40% first, 40% last, 20% shared
-- by the middle. Time-decay: weight 0.5^(age / half-life), age = conversion time - touch time.
with

paths as (

    select * from {{ ref('int_conversion_paths') }}

),

weighted as (

    select
        *,
        power(0.5, {{ seconds_between('touch_time', 'conversion_time') }}
            / ({{ var('time_decay_half_life_days') }} * 86400.0)) as decay_weight
    from paths

),

credits as (

    select
        conversion_id,
        conversion_time,
        conversion_date,
        click_id,
        merchant,
        revenue,
        commission,
        touch_index,
        touch_count,
        session_key,
        touch_time,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        case when touch_index = 1 then 1.0 else 0.0 end as first_touch_credit,
        case when touch_index = touch_count then 1.0 else 0.0 end as last_touch_credit,
        1.0 / touch_count as linear_credit,
        case
            when touch_count = 1 then 1.0
            when touch_count = 2 then 0.5
            when touch_index = 1 or touch_index = touch_count then 0.4
            else 0.2 / (touch_count - 2)
        end as position_based_credit,
        decay_weight / sum(decay_weight) over (partition by conversion_date, conversion_id) as time_decay_credit
    from weighted

),

final as (

    select
        conversion_id,
        touch_index,
        conversion_time,
        conversion_date,
        click_id,
        merchant,
        touch_count,
        session_key,
        touch_time,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        revenue,
        commission,
        {%- for m in models %}
        cast({{ m }}_credit as decimal(18, 6)) as {{ m }}_credit,
        cast(revenue * {{ m }}_credit as decimal(18, 4)) as {{ m }}_revenue,
        cast(commission * {{ m }}_credit as decimal(18, 4)) as {{ m }}_commission{{ ',' if not loop.last }}
        {%- endfor %}
    from credits

)

select * from final
