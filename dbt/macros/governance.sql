{#- Access audit (models/governance): dialect shims over SNOWFLAKE.ACCOUNT_USAGE.ACCESS_HISTORY and
    the PII columns the project declares (column meta `pii`), read from dbt's graph so nothing is
    typed twice. -#}

{#- One row per (query_id, object_name, column_name) in an ACCESS_HISTORY objects array column. -#}
{% macro access_history_columns(relation, column) -%}{{ adapter.dispatch('access_history_columns')(relation, column) }}{%- endmacro %}

{% macro default__access_history_columns(relation, column) -%}
    select ah.query_id, obj.value:"objectName"::varchar as object_name, col.value:"columnName"::varchar as column_name
    from {{ relation }} as ah,
        lateral flatten(input => ah.{{ column }}) as obj,
        lateral flatten(input => obj.value:"columns") as col
{%- endmacro %}

{% macro duckdb__access_history_columns(relation, column) -%}
    select ah.query_id, json_extract_string(o.obj, '$.objectName') as object_name,
        json_extract_string(c.col, '$.columnName') as column_name
    from {{ relation }} as ah,
        unnest(from_json(cast(ah.{{ column }} as json), '["json"]')) as o(obj),
        unnest(from_json(json_extract(o.obj, '$.columns'), '["json"]')) as c(col)
{%- endmacro %}

{#- The PII columns of every dbt source and model, as a SELECT: fully qualified object name (upper
    case, as ACCESS_HISTORY writes it), column, PII class and the dbt node that declares it. -#}
{% macro pii_column_rows() -%}
    {%- set rows = [] -%}
    {%- if execute -%}
        {%- for node in graph.sources.values() | list + graph.nodes.values() | list -%}
            {%- if node.resource_type in ['source', 'model'] -%}
                {%- set ident = node.identifier if node.resource_type == 'source' else (node.alias or node.name) -%}
                {%- set object_name = [node.database, node.schema, ident] | select | join('.') | upper -%}
                {%- for col in node.columns.values() if col.meta.get('pii') -%}
                    {%- do rows.append([object_name, col.name | upper, col.meta['pii'], node.resource_type, node.unique_id]) -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if rows -%}
        {%- for r in rows | sort %}
    {{ 'union all ' if not loop.first }}select '{{ r[0] }}' as object_name, '{{ r[1] }}' as column_name, '{{ r[2] }}' as pii_class, '{{ r[3] }}' as declared_by, '{{ r[4] }}' as dbt_node
        {%- endfor %}
    {%- else %}
    select cast(null as varchar) as object_name, cast(null as varchar) as column_name, cast(null as varchar) as pii_class,
        cast(null as varchar) as declared_by, cast(null as varchar) as dbt_node
    where 1 = 0
    {%- endif -%}
{%- endmacro %}
