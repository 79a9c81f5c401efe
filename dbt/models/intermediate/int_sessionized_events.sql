-- Server-side sessions: per visitor (falling back to the client session id, then the event), a new
-- session starts after `session_gap_minutes` of inactivity. Client session ids are not trusted: a
-- reused id after a long gap still splits, a missing visitor id still groups by the client session.
-- Incremental: every event of each actor seen in the latest staging window is re-sessionised and
-- replaces that actor's rows (delete+insert on actor_id); sessions never span actors, so this is
-- exactly what a full refresh computes.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='actor_id') }}

{%- set dates = reprocess_dates(event_staging_models()) %}

with

events as (

    select *, coalesce(visitor_id, client_session_id, event_id) as actor_id
    from {{ ref('int_events') }}

),

{% if dates is not none -%}
affected as (

    select distinct actor_id from events where {{ date_window_filter(dates, 'event_date') }}

),
{%- endif %}

keyed as (

    select events.* from events
    {%- if dates is not none %}
    inner join affected on events.actor_id = affected.actor_id
    {%- endif %}

),

gaps as (

    select
        *,
        case
            when lag(event_time) over (partition by actor_id order by event_time, event_id) is null then 1
            when {{ seconds_between('lag(event_time) over (partition by actor_id order by event_time, event_id)', 'event_time') }}
                > {{ var('session_gap_minutes') }} * 60 then 1
            else 0
        end as is_session_start
    from keyed

),

numbered as (

    select
        *,
        sum(is_session_start) over (
            partition by actor_id order by event_time, event_id rows between unbounded preceding and current row
        ) as session_number
    from gaps

),

final as (

    select
        *,
        {{ dbt.hash(dbt.concat(["actor_id", "'|'", "first_value(event_id) over (partition by actor_id, session_number order by event_time, event_id)"])) }} as session_key
    from numbered

)

select * from final
