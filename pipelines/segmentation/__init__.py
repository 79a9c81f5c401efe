"""Segmentation: business rules in a versioned YAML file, evaluated by one pure-Python engine.

The same engine serves the stream (per event and per session state), batch backfills and the HTTP
API (``python -m pipelines.segmentation serve``). See docs/STREAMING.md#segmentation.
"""
