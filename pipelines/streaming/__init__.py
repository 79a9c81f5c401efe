"""Stream processing: Spark Structured Streaming from Kafka to Redis, the lake and the dead-letter topic.

Pure rules (``validation``, ``enrichment``) are separate from I/O (``job``, ``sinks``) so they are
unit-tested without engines; ``processing`` is the one per-record code path the Spark job runs.
See docs/STREAMING.md.
"""
