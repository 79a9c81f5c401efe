-- Server-side sessions: per visitor (falling back to the client session id, then the event), a new
-- session starts after `session_gap_minutes` of inactivity. Client session ids are not trusted: a
-- reused id after a long gap still splits, a missing visitor id still groups by the client session.
-- Incremental: only the events at or after S = reprocess_since() are re-sessionised (every one of
-- them was reloaded, nothing before S changed). Each actor's sessionisation is a left-to-right scan,
-- so its state at S is its last event before S (the anchor, read from this table): the gap to the
-- first event at or after S, the session number so far, and the key and start of the session a
-- continuing event joins. Rows at or after S are replaced (strategy `replace` on event_time); this
-- is exactly what a full refresh computes.
{{ config(materialized='incremental', incremental_strategy='replace', replace_from='event_time') }}

{%- set since = reprocess_since() %}

with

events as (

    select *, coalesce(visitor_id, client_session_id, event_id) as actor_id
    from {{ ref('int_events') }}
    where {{ since_filter(since, 'event_time') }}

),

anchors as (

    {%- if since is not none %}

    select
        actor_id,
        event_time as anchor_time,
        session_number as anchor_session_number,
        session_key as anchor_session_key,
        session_start as anchor_session_start
    from {{ this }}
    where event_time < cast('{{ since }}' as timestamp)
        and actor_id in (select actor_id from events)
    qualify row_number() over (partition by actor_id order by event_time desc, event_id desc) = 1

    {%- else %}

    select
        cast(null as varchar) as actor_id,
        cast(null as timestamp) as anchor_time,
        cast(null as bigint) as anchor_session_number,
        cast(null as varchar) as anchor_session_key,
        cast(null as timestamp) as anchor_session_start
    where 1 = 0

    {%- endif %}

),

previous as (

    select
        events.*,
        anchors.anchor_time,
        anchors.anchor_session_number,
        anchors.anchor_session_key,
        anchors.anchor_session_start,
        coalesce(
            lag(events.event_time) over (partition by events.actor_id order by events.event_time, events.event_id),
            anchors.anchor_time
        ) as previous_time
    from events
    left join anchors on events.actor_id = anchors.actor_id

),

gaps as (

    select
        *,
        case
            when previous_time is null then 1
            when {{ seconds_between('previous_time', 'event_time') }} > {{ var('session_gap_minutes') }} * 60 then 1
            else 0
        end as is_session_start
    from previous

),

numbered as (

    select
        *,
        coalesce(anchor_session_number, 0) + sum(is_session_start) over (
            partition by actor_id order by event_time, event_id rows between unbounded preceding and current row
        ) as session_number
    from gaps

),

final as (

    select
        * exclude (previous_time, anchor_time, anchor_session_number, anchor_session_key, anchor_session_start),
        case
            when session_number = anchor_session_number then anchor_session_key
            else {{ dbt.hash(dbt.concat(["actor_id", "'|'", "first_value(event_id) over (partition by actor_id, session_number order by event_time, event_id)"])) }}
        end as session_key,
        case
            when session_number = anchor_session_number then anchor_session_start
            else min(event_time) over (partition by actor_id, session_number)
        end as session_start
    from numbered

)

select * from final
