-- One row per (session, segment): a session belongs to every segment any of its events got from the
-- stream's rules engine (pipelines/segmentation/rules.yaml), so batch and stream share one definition.
-- session_end: when the session's last event happened (incremental runs replace the rows of every
-- session that ended at or after S = reprocess_since(), like int_sessions).
{{ config(materialized='incremental', incremental_strategy='replace', unique_key='session_key', replace_from='session_end') }}

{%- set since = reprocess_since() %}
{%- set first_start = none %}
{%- if since is not none %}
    {%- set found = run_query("select min(session_start) from " ~ ref('int_sessions') ~ " where " ~ since_filter(since, 'session_end')).columns[0].values()[0] %}
    {%- set first_start = since if found is none else timestamp_literal(found) %}
{%- endif %}

with

sessions as (

    select session_key, session_end from {{ ref('int_sessions') }}
    where {{ since_filter(since, 'session_end') }}

),

events as (

    select sessionized.session_key, sessionized.segments_csv, sessions.session_end
    from {{ ref('int_sessionized_events') }} as sessionized
    inner join sessions on sessionized.session_key = sessions.session_key
    where sessionized.segments_csv is not null
        and {{ since_filter(first_start, 'sessionized.event_time') }}

),

exploded as (

    select distinct
        events.session_key,
        {{ split_value('seg') }} as segment,
        events.session_end
    from events {{ split_rows('events.segments_csv', 'seg') }}

)

select * from exploded where segment is not null and segment != ''
