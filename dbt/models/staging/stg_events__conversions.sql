{{ config(cluster_by=cluster_keys(['event_date'])) }}

{%- set fields = [
    ('network', 'network', 'str'),
    ('network_conversion_id', 'network_conversion_id', 'str'),
    ('click_id', 'click_id', 'str'),
    ('merchant', 'merchant', 'str'),
    ('status', 'status', 'str'),
    ('sale_amount', 'sale_amount', 'double'),
    ('commission_amount', 'commission_amount', 'double'),
    ('currency', 'currency', 'str'),
    ('order_ref', 'order_ref', 'str'),
] %}

with

source as (

    {{ events_source('conversion', staging_window()) }}

),

parsed as (

    select *{{ parse_payload(fields) }} from source

),

renamed as (

    select
        {{ event_columns() }},
        {{ payload_columns(fields) }},
        source_order,
        {{ loaded_at() }} as _loaded_at
    from parsed

),

deduplicated as (

    select * from renamed
    {{ dedup_by_event_id('received_at desc, source_order desc') }}

)

select * exclude (source_order) from deduplicated
