-- Per day, every explorer dimension (segment aside: a session may be in several) sums to the same totals.
with totals as (
    select activity_date, dimension, sum(page_views) as page_views, sum(clicks) as clicks, sum(conversions) as conversions
    from {{ ref('explorer_daily') }}
    where dimension != 'segment'
    group by 1, 2
)
select activity_date
from totals
group by activity_date
having count(distinct page_views) > 1 or count(distinct clicks) > 1 or count(distinct conversions) > 1
