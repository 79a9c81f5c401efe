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

{#- fakesnow's `describe table` sees only the connection's database (columns of a REPORTING table
    come back empty, so an incremental insert into it would list no columns): on fakesnow, read a
    relation in another database from that database's information_schema instead. -#}
{% macro snowflake__get_columns_in_relation(relation) -%}
    {%- if target.name == 'fakesnow' and relation.database and (relation.database | upper) != (target.database | upper) -%}
        {%- set sql -%}
            select column_name, data_type from {{ relation.database }}.information_schema.columns
            where table_schema = '{{ relation.schema | upper }}' and table_name = '{{ relation.identifier | upper }}'
            order by ordinal_position
        {%- endset -%}
        {%- set columns = [] -%}
        {%- for row in run_query(sql) -%}
            {%- do columns.append(api.Column.from_description(row[0], row[1])) -%}
        {%- endfor -%}
        {{ return(columns) }}
    {%- else -%}
        {{ return(dbt.snowflake__get_columns_in_relation(relation)) }}
    {%- endif -%}
{%- endmacro %}
