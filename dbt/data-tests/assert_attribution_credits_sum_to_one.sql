-- Every attribution model gives each conversion exactly one credit in total.
select conversion_id
from {{ ref('attribution') }}
group by conversion_id
having abs(sum(first_touch_credit) - 1) > 0.00001
    or abs(sum(last_touch_credit) - 1) > 0.00001
    or abs(sum(linear_credit) - 1) > 0.00001
    or abs(sum(position_based_credit) - 1) > 0.00001
    or abs(sum(time_decay_credit) - 1) > 0.00001
