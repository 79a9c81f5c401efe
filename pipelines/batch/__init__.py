"""Batch side of the warehouse: lake generator, dbt sources generator and the ETL runner.

``python -m pipelines.batch run --schedule hourly|daily`` and ``backfill --from --to`` are the
entry points the cloud CronJob uses; ``pipelines.batch.generate`` writes lake-shaped Parquet for
tests and benchmarks; ``pipelines.batch.sources`` writes the dbt sources from ``infra.contracts``.
"""
