-- Duplicates never double count: merchant conversions equal distinct non-reversed conversion ids.
with marts as (select coalesce(sum(conversions), 0) as n from {{ ref('merchant_performance') }}),
staged as (
    select count(distinct event_id) as n from {{ ref('stg_events__conversions') }} where status != 'reversed'
)
select marts.n, staged.n from marts cross join staged where marts.n != staged.n
