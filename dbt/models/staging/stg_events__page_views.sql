{{ config(cluster_by=cluster_keys(['event_date'])) }}

with

source as (

    {{ events_source('page_view', staging_window()) }}

),

renamed as (

    select
        {{ event_columns() }},
        {{ context_columns() }},
        {{ json_str('payload', 'page_view_id') }} as page_view_id,
        {{ json_str('payload', 'navigation_type') }} as navigation_type,
        source_order,
        {{ loaded_at() }} as _loaded_at
    from source

),

deduplicated as (

    select * from renamed
    {{ dedup_by_event_id() }}

)

select * exclude (source_order) from deduplicated
