{{ config(cluster_by=cluster_keys(['event_date'])) }}

with

source as (

    {{ events_source('chart_interaction', staging_window()) }}

),

renamed as (

    select
        {{ event_columns() }},
        {{ context_columns() }},
        {{ json_str('payload', 'page_view_id') }} as page_view_id,
        {{ json_str('payload', 'chart_id') }} as chart_id,
        {{ json_str('payload', 'action') }} as action,
        {{ json_str('payload', 'field') }} as field,
        {{ json_str('payload', 'value') }} as value,
        cast({{ json_int('payload', 'result_count') }} as integer) as result_count,
        source_order,
        {{ loaded_at() }} as _loaded_at
    from source

),

deduplicated as (

    select * from renamed
    {{ dedup_by_event_id() }}

)

select * exclude (source_order) from deduplicated
