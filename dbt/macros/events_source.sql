{#-
The one place the warehouse meets its input. Both branches return the same columns, so staging is
identical on every target:
  event_id, event_type, event_time, event_date, received_at, source_order, client_session_id,
  visitor_id, site_id, page_path, device_type, browser, os, channel, is_bot, bot_reasons,
  segments_csv, payload (JSON text on DuckDB, VARIANT on Snowflake)
-#}
{% macro events_source(event_type, window) -%}
    {{ return(adapter.dispatch('events_source')(event_type, window)) }}
{%- endmacro %}

{#- local: the stream's Parquet lake, read in place; the date partition prunes files. -#}
{% macro duckdb__events_source(event_type, window) -%}
    select
        event_id,
        event_type,
        {{ ms_to_timestamp('event_time_ms') }} as event_time,
        cast(date as date) as event_date,
        {{ ms_to_timestamp('received_ms') }} as received_at,
        kafka_offset as source_order,
        session_id as client_session_id,
        visitor_id,
        site_id,
        page_path,
        device_type,
        browser,
        os,
        channel,
        coalesce(is_bot, false) as is_bot,
        nullif(bot_reasons, '') as bot_reasons,
        nullif(array_to_string(segments, ','), '') as segments_csv,
        payload
    from {{ source('lake', event_type) }}
    where {{ window_filter(window, ms_to_timestamp('event_time_ms'), 'date', 'hour') }}
{%- endmacro %}

{#-
dev/prod/fakesnow: the RAW tables Snowpipe loads (columns per infra.contracts.raw_columns). The
pipe copies the lake's Parquet rows, so RECORD holds the lake row (stream enrichment + the record as
JSON text in `payload`); when RECORD is the bare event record instead (older loads, manual
inserts), the record is RECORD itself and channel falls back to the same rules in SQL.
-#}
{% macro default__events_source(event_type, window) -%}
    {%- if event_type == 'conversion' -%}
        {%- set event_ms = "rec:occurred_at::number" -%}
        {%- set received_ms = "rec:collector_received_at::number" -%}
    {%- else -%}
        {%- set event_ms = "(rec:context.device_created_at::number + rec:context.collector_received_at::number - rec:context.device_sent_at::number)" -%}
        {%- set received_ms = "rec:context.collector_received_at::number" -%}
    {%- endif -%}
    select * from (
        select
            rec:event_id::varchar as event_id,
            '{{ event_type }}' as event_type,
            {{ ms_to_timestamp(event_ms) }} as event_time,
            cast({{ ms_to_timestamp(event_ms) }} as date) as event_date,
            {{ ms_to_timestamp(received_ms) }} as received_at,
            coalesce(raw_row:kafka_offset::number, 0) as source_order,
            rec:context.session_id::varchar as client_session_id,
            rec:context.visitor_id::varchar as visitor_id,
            rec:context.site_id::varchar as site_id,
            rec:context.page_path::varchar as page_path,
            coalesce(raw_row:device_type::varchar, rec:context.device_class::varchar) as device_type,
            raw_row:browser::varchar as browser,
            raw_row:os::varchar as os,
            coalesce(raw_row:channel::varchar, {{ channel_from_record('rec') }}) as channel,
            coalesce(raw_row:is_bot::boolean, false) as is_bot,
            nullif(raw_row:bot_reasons::varchar, '') as bot_reasons,
            nullif(replace(replace(replace(to_json(raw_row:segments), '[', ''), ']', ''), '"', ''), '') as segments_csv,
            rec as payload
        from (
            select RECORD as raw_row, coalesce(try_parse_json(RECORD:payload::varchar), RECORD) as rec
            from {{ source('raw', event_type) }}
        ) as loaded
    ) as raw_events
    where {{ window_filter(window, 'event_time', 'event_date') }}
{%- endmacro %}

{#- The stream's channel rules (pipelines/streaming/enrichment.py classify_channel), UTM part. -#}
{% macro channel_from_record(record) -%}
    case
        when {{ record }}:context is null then 'postback'
        when lower({{ json_str(record, 'context.utm.medium') }}) in ('cpc', 'ppc', 'paid_search', 'paidsearch', 'paid') then 'paid_search'
        when lower({{ json_str(record, 'context.utm.medium') }}) in ('email', 'newsletter')
            or lower({{ json_str(record, 'context.utm.source') }}) in ('email', 'newsletter') then 'email'
        when lower({{ json_str(record, 'context.utm.medium') }}) = 'affiliate' then 'affiliate'
        when {{ json_str(record, 'context.utm.medium') }} is not null
            or {{ json_str(record, 'context.utm.source') }} is not null then 'other_campaign'
        when {{ json_str(record, 'context.referrer') }} is null then 'direct'
        when {{ json_str(record, 'context.referrer') }} like '%google.%' or {{ json_str(record, 'context.referrer') }} like '%bing.%' then 'organic_search'
        else 'referral'
    end
{%- endmacro %}

{#- Context columns every browser event carries: (column, path in the record, type) for payload_columns. -#}
{% macro context_fields() -%}
    {{ return([
        ('page_url', 'context.page_url', 'str'), ('page_title', 'context.page_title', 'str'),
        ('referrer', 'context.referrer', 'str'), ('utm_source', 'context.utm.source', 'str'),
        ('utm_medium', 'context.utm.medium', 'str'), ('utm_campaign', 'context.utm.campaign', 'str'),
        ('utm_term', 'context.utm.term', 'str'), ('utm_content', 'context.utm.content', 'str'),
        ('session_index', 'context.session_index', 'integer'), ('device_class', 'context.device_class', 'str'),
        ('language', 'context.language', 'str'), ('consent_state', 'context.consent_state', 'str'),
        ('geo_country', 'context.geo_country', 'str'), ('geo_region', 'context.geo_region', 'str'),
        ('geo_city', 'context.geo_city', 'str'), ('ip_hash', 'context.ip_hash', 'str'),
    ]) }}
{%- endmacro %}

{#-
Typed columns from the record: `fields` is a list of (column, path, type), type one of str,
integer, bigint, double. `parse_payload(fields)` goes in the select list of the CTE before (it
adds `_payload_values` on DuckDB: the record is parsed once per row and every path extracted from
that one parse, instead of one JSON parse per column — staging's main cost), and
`payload_columns(fields)` in the select list that names the columns. Snowflake reads VARIANT
paths natively (nothing to parse).
-#}
{% macro parse_payload(fields, payload='payload') -%}{{ adapter.dispatch('parse_payload')(fields, payload) }}{%- endmacro %}
{% macro default__parse_payload(fields, payload) -%}{%- endmacro %}
{% macro duckdb__parse_payload(fields, payload) -%}
    , json_extract_string({{ payload }}, [{% for f in fields %}'$.{{ f[1] }}'{{ ', ' if not loop.last }}{% endfor %}]) as _payload_values
{%- endmacro %}

{% macro payload_columns(fields, payload='payload') -%}{{ adapter.dispatch('payload_columns')(fields, payload) }}{%- endmacro %}
{% macro default__payload_columns(fields, payload) -%}
    {%- for column, path, type in fields %}
        {% if type == 'str' %}{{ json_str(payload, path) }}{% else %}cast({{ json_str(payload, path) }} as {{ type }}){% endif %} as {{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
{% macro duckdb__payload_columns(fields, payload) -%}
    {%- for column, path, type in fields %}
        {% if type == 'str' %}_payload_values[{{ loop.index }}]{% else %}cast(_payload_values[{{ loop.index }}] as {{ type }}){% endif %} as {{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- Columns of the source every staging model keeps. -#}
{% macro event_columns() -%}
    event_id,
    event_time,
    event_date,
    received_at,
    client_session_id,
    visitor_id,
    site_id,
    page_path,
    device_type,
    browser,
    os,
    channel,
    is_bot,
    bot_reasons,
    segments_csv
{%- endmacro %}

{#- Keep one row per event id: the first received (a repeated delivery is the same event). -#}
{% macro dedup_by_event_id(order='received_at, source_order') -%}
    qualify row_number() over (partition by event_id order by {{ order }}) = 1
{%- endmacro %}
