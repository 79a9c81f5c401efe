"""Data quality: the event ledger (every event accounted for at every hop), monitors (volume,
dead letters, freshness, drift, dbt), incidents with alert delivery (SNS, local sink) and the daily
report. See docs/QUALITY.md; the CronJob runs ``python -m pipelines.quality.monitor``."""
