{{ config(cluster_by=cluster_keys(['event_date'])) }}

{%- set fields = context_fields() + [
    ('page_view_id', 'page_view_id', 'str'),
    ('click_id', 'click_id', 'str'),
    ('link_id', 'link_id', 'str'),
    ('product_id', 'product_id', 'str'),
    ('merchant', 'merchant', 'str'),
    ('position', 'position', 'integer'),
    ('placement', 'placement', 'str'),
    ('chart_id', 'chart_id', 'str'),
    ('impression_id', 'impression_id', 'str'),
    ('destination_domain', 'destination_domain', 'str'),
] %}

with

source as (

    {{ events_source('affiliate_click', staging_window()) }}

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
