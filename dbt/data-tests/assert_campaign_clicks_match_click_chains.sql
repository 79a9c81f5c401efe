-- Campaign effectiveness counts every non-bot click of a non-bot session exactly once.
with marts as (select coalesce(sum(affiliate_clicks), 0) as n from {{ ref('campaign_effectiveness') }}),
chains as (
    select count(*) as n
    from {{ ref('int_click_chains') }} as c
    inner join {{ ref('int_sessions') }} as s on c.session_key = s.session_key
    where not c.is_bot and not s.is_bot
)
select marts.n, chains.n from marts cross join chains where marts.n != chains.n
