{{ config(cluster_by=cluster_keys(['event_date'])) }}

with

source as (

    {{ events_source('conversion', staging_window()) }}

),

renamed as (

    select
        {{ event_columns() }},
        {{ json_str('payload', 'network') }} as network,
        {{ json_str('payload', 'network_conversion_id') }} as network_conversion_id,
        {{ json_str('payload', 'click_id') }} as click_id,
        {{ json_str('payload', 'merchant') }} as merchant,
        {{ json_str('payload', 'status') }} as status,
        {{ json_float('payload', 'sale_amount') }} as sale_amount,
        {{ json_float('payload', 'commission_amount') }} as commission_amount,
        {{ json_str('payload', 'currency') }} as currency,
        {{ json_str('payload', 'order_ref') }} as order_ref,
        source_order,
        {{ loaded_at() }} as _loaded_at
    from source

),

deduplicated as (

    select * from renamed
    {{ dedup_by_event_id('received_at desc, source_order desc') }}

)

select * exclude (source_order) from deduplicated
