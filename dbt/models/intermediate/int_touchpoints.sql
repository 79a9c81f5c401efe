-- Marketing touchpoints: every non-bot session is one touch (its acquisition channel and campaign).
select
    session_key,
    actor_id,
    session_start as touch_time,
    channel,
    utm_source,
    utm_medium,
    utm_campaign,
    landing_page_path
from {{ ref('int_sessions') }}
where not is_bot
