"""Quality fixtures: the collector's (namespaced topics, codec) for tests that run a real collector."""

from tests.pipelines.collector.conftest import collector_codec, topics  # noqa: F401
