{{ config(cluster_by=cluster_keys(['event_date'])) }}

{%- set fields = context_fields() + [
    ('page_view_id', 'page_view_id', 'str'),
    ('chart_id', 'chart_id', 'str'),
    ('action', 'action', 'str'),
    ('field', 'field', 'str'),
    ('value', 'value', 'str'),
    ('result_count', 'result_count', 'integer'),
] %}

with

source as (

    {{ events_source('chart_interaction', staging_window()) }}

),

parsed as (

    select *{{ parse_payload(fields) }} from source

),

renamed as (

    select
        {{ event_columns() }},
        {{ payload_columns(fields) }},
        {{ loaded_at() }} as _loaded_at,
        {{ source_columns() }}
    from parsed

),

deduplicated as (

    {{ deduplicate_events('renamed') }}

)

select * exclude (_loaded_before) from deduplicated
