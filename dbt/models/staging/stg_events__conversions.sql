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
        {{ loaded_at() }} as _loaded_at,
        {{ source_columns() }}
    from parsed

),

deduplicated as (

    {{ deduplicate_events('renamed', 'received_at desc, _source_order desc') }}

)

select * exclude (_loaded_before) from deduplicated
