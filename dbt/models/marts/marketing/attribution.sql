{{ config(unique_key='conversion_date', cluster_by=cluster_keys(['conversion_date'])) }}

{%- set dates = reprocess_dates() %}

-- Attribution of every (non-reversed, non-bot) conversion to the touchpoints on its path.
with

credits as (

    select * from {{ ref('int_attribution_credits') }}
    where {{ date_window_filter(dates, 'conversion_date') }}

)

select * from credits
