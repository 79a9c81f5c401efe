-- Every browser event (page view, impression, chart interaction, affiliate click) in one shape.
with

page_views as (select * from {{ ref('stg_events__page_views') }}),
impressions as (select * from {{ ref('stg_events__product_impressions') }}),
interactions as (select * from {{ ref('stg_events__chart_interactions') }}),
clicks as (select * from {{ ref('stg_events__affiliate_clicks') }}),

{% set shared %}
        event_id, event_time, event_date, client_session_id, visitor_id, site_id, page_path, page_view_id,
        channel, utm_source, utm_medium, utm_campaign, referrer, device_type, geo_country, is_bot, segments_csv
{% endset %}

unioned as (

    select 'page_view' as event_type, {{ shared }} from page_views
    union all
    select 'product_impression' as event_type, {{ shared }} from impressions
    union all
    select 'chart_interaction' as event_type, {{ shared }} from interactions
    union all
    select 'affiliate_click' as event_type, {{ shared }} from clicks

)

select * from unioned
