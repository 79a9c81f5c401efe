{#- Layers map to databases on Snowflake (TRANSFORMED, REPORTING) and to schemas in the one DuckDB file. -#}
{% macro generate_database_name(custom_database_name=none, node=none) -%}
    {{ return(adapter.dispatch('layer_database')(custom_database_name)) }}
{%- endmacro %}

{% macro default__layer_database(custom_database_name) -%}
    {{ return(custom_database_name or target.database) }}
{%- endmacro %}

{% macro duckdb__layer_database(custom_database_name) -%}
    {{ return(target.database) }}
{%- endmacro %}

{#- Custom schema names are used as written (staging, intermediate, marketing, ...). -#}
{% macro generate_schema_name(custom_schema_name=none, node=none) -%}
    {{ return((custom_schema_name or target.schema) | trim) }}
{%- endmacro %}
