{#-
Incremental windows. Staging reprocesses every event whose event time is at or after
`max(event_time) already loaded - lookback_hours` (or the backfill window), so a late event within
the lookback lands exactly where a full refresh would put it. Rows reloaded by a run carry the same
`_loaded_at`; downstream daily models rebuild the dates those rows cover (delete+insert by date).
-#}

{% macro staging_window() -%}
    {#- Returns (since, until) as 'YYYY-MM-DD HH:MM:SS' strings (either may be none), or none for a full load. -#}
    {%- if var('backfill_from') -%}
        {{ return((var('backfill_from') ~ ' 00:00:00', (var('backfill_to') ~ ' 00:00:00') if var('backfill_to') else none)) }}
    {%- endif -%}
    {%- if not is_incremental() or not execute -%}{{ return(none) }}{%- endif -%}
    {%- set result = run_query('select max(event_time) from ' ~ this) -%}
    {%- set newest = result.columns[0].values()[0] -%}
    {%- if newest is none -%}{{ return(none) }}{%- endif -%}
    {%- if newest is string -%}{%- set newest = modules.datetime.datetime.fromisoformat(newest[:19]) -%}{%- endif -%}
    {%- set since = newest - modules.datetime.timedelta(hours=var('lookback_hours')) -%}
    {{ return((since.strftime('%Y-%m-%d %H:%M:%S'), none)) }}
{%- endmacro %}

{% macro window_filter(window, time_column, date_column=none, hour_column=none) -%}
    {#- date_column/hour_column: partition columns, so the engine skips files outside the window. -#}
    {%- if window is none -%}true
    {%- else -%}
        {%- set since, until = window -%}
        {{ time_column }} >= cast('{{ since }}' as timestamp)
        {%- if date_column %} and {{ date_column }} >= cast('{{ since[:10] }}' as date){% endif %}
        {%- if date_column and hour_column %}
            and ({{ date_column }} > cast('{{ since[:10] }}' as date) or cast({{ hour_column }} as integer) >= {{ since[11:13] | int }}){% endif %}
        {%- if until %} and {{ time_column }} < cast('{{ until }}' as timestamp)
            {%- if date_column %} and {{ date_column }} <= cast('{{ until[:10] }}' as date){% endif %}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{% macro loaded_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp)
{%- endmacro %}

{% macro reprocess_dates(staging_models) -%}
    {#- (first_date, last_date) of the rows the latest staging runs reloaded; none for a full build. -#}
    {#- ref() before the execute check, so dbt records the dependencies at parse time. -#}
    {%- set parts = [] -%}
    {%- for m in staging_models -%}
        {%- do parts.append("select min(event_date) as lo, max(event_date) as hi from " ~ ref(m) ~ " where _loaded_at = (select max(_loaded_at) from " ~ ref(m) ~ ")") -%}
    {%- endfor -%}
    {%- if not is_incremental() or not execute -%}{{ return(none) }}{%- endif -%}
    {%- set result = run_query("select min(lo), max(hi) from (" ~ parts | join(" union all ") ~ ") as w") -%}
    {%- set lo = result.columns[0].values()[0] -%}
    {%- set hi = result.columns[1].values()[0] -%}
    {%- if lo is none -%}{{ return(none) }}{%- endif -%}
    {{ return(((lo | string)[:10], (hi | string)[:10])) }}
{%- endmacro %}

{% macro date_window_filter(dates, date_column) -%}
    {%- if dates is none -%}true
    {%- else -%}{{ date_column }} between cast('{{ dates[0] }}' as date) and cast('{{ dates[1] }}' as date)
    {%- endif -%}
{%- endmacro %}

{% macro event_staging_models() -%}
    {{ return(['stg_events__page_views', 'stg_events__product_impressions', 'stg_events__chart_interactions', 'stg_events__affiliate_clicks', 'stg_events__conversions']) }}
{%- endmacro %}
