-- One row per (session, segment): a session belongs to every segment any of its events got from the
-- stream's rules engine (pipelines/segmentation/rules.yaml), so batch and stream share one definition.
with

events as (select * from {{ ref('int_sessionized_events') }} where segments_csv is not null),

exploded as (

    select distinct
        events.session_key,
        {{ split_value('seg') }} as segment
    from events {{ split_rows('events.segments_csv', 'seg') }}

)

select * from exploded where segment is not null and segment != ''
