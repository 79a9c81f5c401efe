{{ config(cluster_by=cluster_keys(['event_date'])) }}

with

source as (

    {{ events_source('affiliate_click', staging_window()) }}

),

renamed as (

    select
        {{ event_columns() }},
        {{ context_columns() }},
        {{ json_str('payload', 'page_view_id') }} as page_view_id,
        {{ json_str('payload', 'click_id') }} as click_id,
        {{ json_str('payload', 'link_id') }} as link_id,
        {{ json_str('payload', 'product_id') }} as product_id,
        {{ json_str('payload', 'merchant') }} as merchant,
        cast({{ json_int('payload', 'position') }} as integer) as position,
        {{ json_str('payload', 'placement') }} as placement,
        {{ json_str('payload', 'chart_id') }} as chart_id,
        {{ json_str('payload', 'impression_id') }} as impression_id,
        {{ json_str('payload', 'destination_domain') }} as destination_domain,
        source_order,
        {{ loaded_at() }} as _loaded_at
    from source

),

deduplicated as (

    select * from renamed
    {{ dedup_by_event_id() }}

)

select * exclude (source_order) from deduplicated
