{#- Small dialect shims: the models call these, never `target.type` directly. -#}

{% macro json_str(column, path) -%}{{ adapter.dispatch('json_str')(column, path) }}{%- endmacro %}
{% macro default__json_str(column, path) -%}{{ column }}:{{ path }}::varchar{%- endmacro %}
{% macro duckdb__json_str(column, path) -%}json_extract_string({{ column }}, '$.{{ path }}'){%- endmacro %}

{% macro json_int(column, path) -%}cast({{ json_str(column, path) }} as bigint){%- endmacro %}
{% macro json_float(column, path) -%}cast({{ json_str(column, path) }} as double){%- endmacro %}

{% macro ms_to_timestamp(expr) -%}{{ adapter.dispatch('ms_to_timestamp')(expr) }}{%- endmacro %}
{% macro default__ms_to_timestamp(expr) -%}to_timestamp_ntz(({{ expr }}), 3){%- endmacro %}
{% macro duckdb__ms_to_timestamp(expr) -%}make_timestamp(cast(({{ expr }}) as bigint) * 1000){%- endmacro %}

{#- Seconds from a to b, as a double. -#}
{% macro seconds_between(a, b) -%}{{ adapter.dispatch('seconds_between')(a, b) }}{%- endmacro %}
{% macro default__seconds_between(a, b) -%}cast(datediff('millisecond', {{ a }}, {{ b }}) as double) / 1000{%- endmacro %}

{#- One row per element of a comma-separated string column: `from <relation> <join_rows>`. -#}
{% macro split_rows(column, alias) -%}{{ adapter.dispatch('split_rows')(column, alias) }}{%- endmacro %}
{% macro default__split_rows(column, alias) -%}
    , lateral flatten(input => split({{ column }}, ',')) as {{ alias }}_f
{%- endmacro %}
{% macro duckdb__split_rows(column, alias) -%}
    , unnest(string_split({{ column }}, ',')) as {{ alias }}_f({{ alias }})
{%- endmacro %}
{% macro split_value(alias) -%}{{ adapter.dispatch('split_value')(alias) }}{%- endmacro %}
{% macro default__split_value(alias) -%}{{ alias }}_f.value::varchar{%- endmacro %}
{% macro duckdb__split_value(alias) -%}{{ alias }}_f.{{ alias }}{%- endmacro %}

{#- Cluster keys only where clustering exists and pays (Snowflake dev/prod). -#}
{% macro cluster_keys(keys) -%}
    {{ return(keys if target.type == 'snowflake' and target.name in ['dev', 'prod'] else none) }}
{%- endmacro %}

{% macro safe_divide(numerator, denominator) -%}
    case when ({{ denominator }}) = 0 or ({{ denominator }}) is null then null else cast({{ numerator }} as double) / ({{ denominator }}) end
{%- endmacro %}
