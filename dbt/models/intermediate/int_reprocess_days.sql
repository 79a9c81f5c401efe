-- The days whose mart rows this run rebuilds (compute_reprocess_dates in macros/incremental.sql),
-- computed once per dbt invocation instead of once per mart: one row per day, plus a marker row
-- (d null) so an empty list is still "computed"; all_days when the marts rebuild every day.
-- A mart run by itself (another invocation) computes the days on its own.
{{ config(materialized='table') }}

{%- set days = compute_reprocess_dates(force=true) %}

select
    cast('{{ invocation_id }}' as varchar) as invocation_id,
    cast(null as date) as d,
    {{ 'true' if days is none else 'false' }} as all_days
{%- for day in (days or []) %}
union all
select cast('{{ invocation_id }}' as varchar), cast('{{ day }}' as date), false
{%- endfor %}
