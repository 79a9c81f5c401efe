{#-
fakesnow shims (../shared/research/warehouse.md): active only when target.name == 'fakesnow', so
dev/prod run dbt-snowflake's own SQL unchanged. fakesnow (DuckDB underneath) cannot qualify
TEMPORARY relations with a database, so the incremental staging table is a plain table there.
-#}
{% macro snowflake__create_table_temporary_sql(relation, compiled_code) -%}
    {%- if target.name == 'fakesnow' -%}
create or replace table {{ relation }} as (
    {{ compiled_code }}
);
    {%- else -%}
    {{ dbt.snowflake__create_table_temporary_sql(relation, compiled_code) }}
    {%- endif -%}
{%- endmacro %}
