{#-
Incremental windows. Staging considers the events whose event time is at or after
`max(event_time) already loaded - lookback_hours` (or the backfill window), so a late event within
the lookback lands exactly where a full refresh would put it. An hourly run reads only the rows of
that window that arrived since the last run (staging_only_new in events_source.sql: lake files or
RAW loads not loaded yet), deduplicated against the rows already loaded; a backfill reads the whole
window. Rows a run (re)loaded carry the same `_loaded_at`; downstream models recompute from what
those rows can change (below).
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

{#-
Downstream of staging, an incremental run recomputes only what the reloaded rows can change:
* `reprocess_since()`: the earliest event time among the rows the latest staging runs reloaded
  (S): the new rows of an hourly run, every row of a backfill window. Nothing in staging before S
  changed, so sessionisation, sessions and click chains recompute from S on over all the staging
  rows at or after S (int_sessionized_events, int_sessions, int_session_segments,
  int_click_chains).
* `reprocess_dates()`: the days whose mart rows can differ from the previous run; the marts
  delete+insert exactly these days. See the macro for the list and why each is there.
-#}

{% macro timestamp_literal(value) -%}
    {#- A timestamp from run_query (datetime on DuckDB/Snowflake, text on fakesnow) as 'YYYY-MM-DD HH:MM:SS.ffffff'. -#}
    {%- if value is string -%}{%- set value = modules.datetime.datetime.fromisoformat(value[:26].replace('T', ' ')) -%}{%- endif -%}
    {{ return(value.strftime('%Y-%m-%d %H:%M:%S.%f')) }}
{%- endmacro %}

{% macro latest_loaded(model, where='true') -%}
    {#- The rows of a staging (or other `_loaded_at`) model that its latest run (re)loaded. -#}
    select * from {{ model }} where _loaded_at = (select max(_loaded_at) from {{ model }}) and {{ where }}
{%- endmacro %}

{% macro reprocess_since(force=false) -%}
    {#- S as a timestamp literal string; none for a full build (or nothing loaded). -#}
    {#- ref() before the execute check, so dbt records the dependencies at parse time. -#}
    {%- set parts = [] -%}
    {%- for m in event_staging_models() -%}
        {%- do parts.append("select min(event_time) as t from (" ~ latest_loaded(ref(m)) ~ ") as l") -%}
    {%- endfor -%}
    {%- if not execute or not (force or is_incremental()) -%}{{ return(none) }}{%- endif -%}
    {%- set t = run_query("select min(t) from (" ~ parts | join(" union all ") ~ ") as w").columns[0].values()[0] -%}
    {{ return(none if t is none else timestamp_literal(t)) }}
{%- endmacro %}

{% macro since_filter(since, column) -%}
    {%- if since is none -%}true{%- else -%}{{ column }} >= cast('{{ since }}' as timestamp){%- endif -%}
{%- endmacro %}

{% macro reprocess_dates() -%}
    {#- The days as computed once per run by int_reprocess_days (compute_reprocess_dates below), or
        computed here when this invocation did not build that table (a run of a single mart). -#}
    {%- set cache = ref('int_reprocess_days') -%}
    {%- set _ = compute_reprocess_dates() if not execute else none -%}
    {%- if not is_incremental() or not execute -%}{{ return(none) }}{%- endif -%}
    {%- set rows = run_query("select d, all_days from " ~ cache ~ " where invocation_id = '" ~ invocation_id ~ "'") -%}
    {%- if rows | length == 0 -%}{{ return(compute_reprocess_dates()) }}{%- endif -%}
    {%- if rows.columns[1].values() | select | list | length > 0 -%}{{ return(none) }}{%- endif -%}
    {%- set dates = [] -%}
    {%- for d in rows.columns[0].values() if d is not none -%}{%- do dates.append((d | string)[:10]) -%}{%- endfor -%}
    {{ return(dates | sort) }}
{%- endmacro %}

{% macro compute_reprocess_dates(force=false) -%}
    {#-
    The days (list of 'YYYY-MM-DD') whose mart rows can change in this run; none for a full build.
    With S = reprocess_since() and L = the earliest start of a session recomputed in this run
    (sessions with an event at or after S, so L <= S):
      1. event days of the rows staging reloaded (events, impressions, conversions, interactions);
      2. click days of the click chains recomputed in this run (`_loaded_at`): a late conversion
         or impression changes an old click's row on the click's day;
      3. every day with an event at or after L: a recomputed session's attributes (bot flag,
         segments) reach all of its events, clicks and page views, which are at or after L;
      4. conversion days of conversions whose click chain was recomputed or whose click is at or
         after L (its session, or the touchpoints before it, may have changed);
      5. session days of the sessions of recomputed click chains (conversions per session);
      6. days of chart interactions in the page view of a reloaded click (clicks after them).
    -#}
    {%- set stg = {} -%}
    {%- for m in event_staging_models() -%}{%- do stg.update({m: ref(m)}) -%}{%- endfor -%}
    {%- set sessionized, sessions, chains = ref('int_sessionized_events'), ref('int_sessions'), ref('int_click_chains') -%}
    {%- if not execute or not (force or is_incremental()) -%}{{ return(none) }}{%- endif -%}
    {%- set since = reprocess_since(force) -%}
    {%- if since is none -%}{{ return(none) }}{%- endif -%}
    {%- set first = run_query("select min(session_start) from " ~ sessions ~ " where " ~ since_filter(since, 'session_end')).columns[0].values()[0] -%}
    {%- set recomputed_from = since if first is none else timestamp_literal(first) -%}
    {%- set parts = [] -%}
    {%- for m in event_staging_models() -%}
        {%- do parts.append("select distinct event_date as d from (" ~ latest_loaded(stg[m]) ~ ") as l") -%}
    {%- endfor -%}
    {%- do parts.append("select distinct click_date as d from (" ~ latest_loaded(chains) ~ ") as l") -%}
    {%- do parts.append("select distinct event_date as d from " ~ sessionized ~ " where " ~ since_filter(recomputed_from, 'event_time')) -%}
    {%- do parts.append(
        "select distinct v.event_date as d from " ~ stg['stg_events__conversions'] ~ " as v inner join " ~ chains
        ~ " as c on v.click_id = c.click_id where c._loaded_at = (select max(_loaded_at) from " ~ chains ~ ") or "
        ~ since_filter(recomputed_from, 'c.click_time')) -%}
    {%- do parts.append(
        "select distinct s.session_date as d from " ~ sessions ~ " as s inner join (" ~ latest_loaded(chains)
        ~ ") as c on s.session_key = c.session_key") -%}
    {%- do parts.append(
        "select distinct i.event_date as d from " ~ stg['stg_events__chart_interactions'] ~ " as i where i.page_view_id in "
        ~ "(select page_view_id from (" ~ latest_loaded(stg['stg_events__affiliate_clicks']) ~ ") as l)") -%}
    {%- set result = run_query("select distinct d from (" ~ parts | join(" union all ") ~ ") as w where d is not null order by d") -%}
    {%- set dates = [] -%}
    {%- for d in result.columns[0].values() -%}{%- do dates.append((d | string)[:10]) -%}{%- endfor -%}
    {{ return(dates) }}
{%- endmacro %}

{% macro date_window_filter(dates, date_column) -%}
    {#- The rows on the reprocessed days (the range first, so the engine can skip blocks by min/max). -#}
    {%- if dates is none -%}true
    {%- elif dates | length == 0 -%}false
    {%- else -%}({{ date_column }} between cast('{{ dates[0] }}' as date) and cast('{{ dates[-1] }}' as date)
        and {{ date_column }} in ({% for d in dates %}cast('{{ d }}' as date){{ ', ' if not loop.last }}{% endfor %}))
    {%- endif -%}
{%- endmacro %}

{% macro dates_from_filter(dates, date_column) -%}
    {#- Rows on or after the first reprocessed day (for joins to rows that can only follow it). -#}
    {%- if dates is none -%}true
    {%- elif dates | length == 0 -%}false
    {%- else -%}{{ date_column }} >= cast('{{ dates[0] }}' as date)
    {%- endif -%}
{%- endmacro %}

{#-
Incremental strategy `replace`: delete+insert that also deletes the target rows whose
`replace_from` column (config) is at or after reprocess_since() — rows a full refresh would no
longer produce (a session merged into an earlier one by a late event loses its key). With a
unique_key, rows whose key is among the new rows are deleted too.
-#}
{% macro get_incremental_replace_sql(arg_dict) -%}
    {%- set target, source = arg_dict['target_relation'], arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set cols = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set since = reprocess_since() -%}
    {%- set conditions = [] -%}
    {%- if key -%}{%- do conditions.append(key ~ " in (select " ~ key ~ " from " ~ source ~ ")") -%}{%- endif -%}
    {%- if since is not none -%}{%- do conditions.append(since_filter(since, config.get('replace_from'))) -%}{%- endif -%}
    {%- set dml -%}
    {%- if conditions %}
delete from {{ target }} where {{ conditions | join(' or ') }};
    {%- endif %}
insert into {{ target }} ({{ cols }}) select {{ cols }} from {{ source }}
    {%- endset -%}
    {{ return(adapter.dispatch('replace_dml')(dml)) }}
{%- endmacro %}

{% macro default__replace_dml(dml) -%}{{ return(dml) }}{%- endmacro %}
{% macro snowflake__replace_dml(dml) -%}{{ return(snowflake_dml_explicit_transaction(dml)) }}{%- endmacro %}

{% macro event_staging_models() -%}
    {{ return(['stg_events__page_views', 'stg_events__product_impressions', 'stg_events__chart_interactions', 'stg_events__affiliate_clicks', 'stg_events__conversions']) }}
{%- endmacro %}
