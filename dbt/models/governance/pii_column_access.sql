{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='query_id',
) }}
-- Who read which PII column, with which role, when, through which query: one row per query and
-- PII column read. `via_direct_access` is false when the column was only read underneath a view
-- (ACCESS_HISTORY's base objects). ACCOUNT_USAGE lags up to 3 h; an incremental run re-reads the
-- last day before the newest query already here.

with access_history as (
    select * from {{ source('account_usage', 'access_history') }}
    {% if is_incremental() %}
    where query_start_time >= (select {{ dbt.dateadd('day', -1, 'max(query_start_time)') }} from {{ this }})
    {% endif %}
),

columns_read as (
    select query_id, object_name, column_name, 1 as is_direct
    from ({{ access_history_columns('access_history', 'direct_objects_accessed') }}) as d
    union all
    select query_id, object_name, column_name, 0 as is_direct
    from ({{ access_history_columns('access_history', 'base_objects_accessed') }}) as b
),

pii_read as (
    select
        r.query_id,
        upper(r.object_name) as object_name,
        upper(r.column_name) as column_name,
        p.pii_class,
        max(r.is_direct) as is_direct
    from columns_read as r
    inner join {{ ref('pii_columns') }} as p
        on upper(r.object_name) = p.object_name and upper(r.column_name) = p.column_name
    group by 1, 2, 3, 4
)

select
    ah.query_id,
    ah.query_start_time,
    ah.user_name,
    qh.role_name,
    qh.query_type,
    qh.warehouse_name,
    pr.object_name,
    pr.column_name,
    pr.pii_class,
    pr.is_direct = 1 as via_direct_access
from pii_read as pr
inner join access_history as ah on ah.query_id = pr.query_id
left join {{ source('account_usage', 'query_history') }} as qh on qh.query_id = pr.query_id
