{#-
The one place the warehouse meets its input. Both branches return the same columns, so staging is
identical on every target:
  event_id, event_type, event_time, event_date, received_at, source_order, client_session_id,
  visitor_id, site_id, page_path, device_type, browser, os, channel, is_bot, bot_reasons,
  segments_csv, payload (JSON text on DuckDB, VARIANT on Snowflake),
  source_file, source_version (the lake file / RAW load a row came from: see staging_only_new)

`window` is staging_window(): (since, until) or none (everything). With staging_only_new() (the
hourly incremental run) only rows of lake files / RAW loads that staging has not loaded yet are
read, still restricted to the window (so the late-event semantics are those of the window).
-#}
{% macro events_source(event_type, window) -%}
    {{ return(adapter.dispatch('events_source')(event_type, window)) }}
{%- endmacro %}

{#-
Hourly incremental runs read only what arrived since the last run. A row's origin is
(source_file, source_version): the lake file path below the lake directory and its modification
time on DuckDB, the RAW row's _FILE_NAME and _LOADED_AT on Snowflake (Snowpipe reloads a file whose
content changed, with a new load time). A file (version) is new when no staging row with an event
time in the window came from it. A file re-written under the same name (the stream's replay of a
batch) has a new version, so it is read again; a file whose rows all lost deduplication is read
again on every run while it is in the window (its rows lose again: the same result). Backfills
(`backfill_from`), full refreshes and `--vars '{staging_reload_window: true}'` read the whole
window instead.
-#}
{% macro staging_only_new() -%}
    {{ return(is_incremental() and not var('backfill_from') and not var('staging_reload_window', false)) }}
{%- endmacro %}

{% macro lake_dir() -%}{{ return(env_var('AA_LAKE_DIR', '.local/lake').rstrip('/')) }}{%- endmacro %}

{#-
local: the lake files of the window's partitions (event_type=/date=/hour=), listed before reading:
`read_parquet(..., union_by_name = true)` reads the metadata of every file it is given, so a glob
over the whole lake costs ~0.4 s per model at 1M events whatever the window. Returns none for a
full load (every file), else a list of (path, relative path, version) of the files to read.
-#}
{% macro duckdb__lake_files(event_type, window, only_new) -%}
    {%- if window is none -%}{{ return(none) }}{%- endif -%}
    {%- set since, until = window -%}
    {%- set part_date = "regexp_extract(file, '/date=([0-9-]+)/', 1)" -%}
    {%- set part_hour = "cast(regexp_extract(file, '/hour=([0-9]+)/', 1) as integer)" -%}
    {%- set listing -%}
        select file from glob('{{ lake_dir() }}/event_type={{ event_type }}/date=*/hour=*/*.parquet')
        where ({{ part_date }} > '{{ since[:10] }}' or ({{ part_date }} = '{{ since[:10] }}' and {{ part_hour }} >= {{ since[11:13] | int }}))
        {%- if until %} and {{ part_date }} <= '{{ until[:10] }}'{% endif %}
        order by file
    {%- endset -%}
    {%- set paths = run_query(listing).columns[0].values() -%}
    {%- if paths | length == 0 -%}{{ return([]) }}{%- endif -%}
    {%- set versions -%}
        with listed as (
            select filename, regexp_extract(filename, 'event_type=.*$') as relative,
                make_timestamp(epoch_us(last_modified)) as version
            from read_blob([{% for p in paths %}'{{ p }}'{{ ', ' if not loop.last }}{% endfor %}])
        )
        select listed.filename, listed.relative, strftime(listed.version, '%Y-%m-%d %H:%M:%S.%f')
        from listed
        {%- if only_new %}
        left join (
            select distinct _source_file, _source_version from {{ this }}
            where event_time >= cast('{{ since }}' as timestamp)
        ) as loaded on loaded._source_file = listed.relative and loaded._source_version = listed.version
        where loaded._source_file is null
        {%- endif %}
        order by listed.filename
    {%- endset -%}
    {%- set files = [] -%}
    {%- for row in run_query(versions) -%}{%- do files.append((row[0], row[1], row[2])) -%}{%- endfor -%}
    {{ return(files) }}
{%- endmacro %}

{#- local: the stream's Parquet lake, read in place (only the window's partitions are listed). -#}
{% macro duckdb__events_source(event_type, window) -%}
    {%- set _lineage = source('lake', event_type) -%}
    {%- set only_new = staging_only_new() if execute else false -%}
    {%- set files = duckdb__lake_files(event_type, window, only_new) if execute else none -%}
    {%- set all_files = lake_dir() ~ '/event_type=' ~ event_type ~ '/*/*/*.parquet' -%}
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
        payload,
        files.source_file,
        files.source_version
    {%- if files is none %}
    from read_parquet('{{ all_files }}', hive_partitioning = true, union_by_name = true, filename = true) as lake
    inner join (
        select filename as path, regexp_extract(filename, 'event_type=.*$') as source_file,
            make_timestamp(epoch_us(last_modified)) as source_version
        from read_blob('{{ all_files }}')
    ) as files on lake.filename = files.path
    {%- elif files | length == 0 %}
    from (
        select
            null::varchar as event_id, null::varchar as event_type, null::bigint as event_time_ms,
            null::bigint as received_ms, null::bigint as kafka_offset, null::varchar as session_id,
            null::varchar as visitor_id, null::varchar as site_id, null::varchar as page_path,
            null::varchar as device_type, null::varchar as browser, null::varchar as os, null::varchar as channel,
            null::boolean as is_bot, null::varchar as bot_reasons, null::varchar[] as segments,
            null::varchar as payload, null::date as date, null::integer as hour,
            null::varchar as source_file, null::timestamp as source_version
        where false
    ) as files
    {%- else %}
    from read_parquet(
        [{% for f in files %}'{{ f[0] }}'{{ ', ' if not loop.last }}{% endfor %}],
        hive_partitioning = true, union_by_name = true, filename = true
    ) as lake
    inner join (
        values {% for f in files %}('{{ f[0] }}', '{{ f[1] }}', cast('{{ f[2] }}' as timestamp)){{ ', ' if not loop.last }}{% endfor %}
    ) as files (path, source_file, source_version) on lake.filename = files.path
    {%- endif %}
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
            rec as payload,
            source_file,
            source_version
        from (
            select
                RECORD as raw_row,
                coalesce(try_parse_json(RECORD:payload::varchar), RECORD) as rec,
                _FILE_NAME as source_file,
                cast(_LOADED_AT as timestamp_ntz) as source_version
            from {{ source('raw', event_type) }}
        ) as loaded
    ) as raw_events
    where {{ window_filter(window, 'event_time', 'event_date') }}
    {%- if execute and staging_only_new() and window is not none %}
        and not exists (
            select 1 from {{ this }} as loaded
            where loaded.event_time >= cast('{{ window[0] }}' as timestamp)
                and loaded._source_file = raw_events.source_file
                and loaded._source_version = raw_events.source_version
        )
    {%- endif %}
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

{#-
Keep one row per event id: the first received (a repeated delivery is the same event); `order`
ranks the copies. `rows` is the CTE of the rows read. In an hourly run (staging_only_new) the rows
read are only the new ones, so the copies already in staging compete too: a new copy replaces the
loaded row only when it ranks first (a duplicate of a loaded event never adds a row; on a tie the
loaded row stays), which is the row a full refresh keeps. The result has `_loaded_before` (0) for
the model to drop.
-#}
{% macro deduplicate_events(rows, order='received_at, _source_order') -%}
    {%- if execute and staging_only_new() %}
    select * from (
        select *, 0 as _loaded_before from {{ rows }}
        qualify row_number() over (partition by event_id order by {{ order }}) = 1
    ) as first_new
    where event_id in (
        {#- only the ranking columns of the loaded copies: reading their whole rows cost ~1 s at 10M events #}
        select event_id from (
            select event_id, received_at, _source_order, 0 as _loaded_before from {{ rows }}
            union all
            select event_id, received_at, _source_order, 1 as _loaded_before from {{ this }}
            where event_id in (select event_id from {{ rows }})
        ) as copies
        qualify row_number() over (partition by event_id order by {{ order }}, _loaded_before desc) = 1
            and _loaded_before = 0
    )
    {%- else %}
    select *, 0 as _loaded_before from {{ rows }}
    qualify row_number() over (partition by event_id order by {{ order }}) = 1
    {%- endif %}
{%- endmacro %}

{#- The load columns every staging model ends with (after _loaded_at: new columns are appended). -#}
{% macro source_columns() -%}
    source_file as _source_file,
    source_version as _source_version,
    source_order as _source_order
{%- endmacro %}
