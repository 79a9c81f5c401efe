"""Structured logs of the collector (JSON lines on stderr). Never pass a raw IP here."""

from __future__ import annotations

from pipelines.logs import JsonLogger

_logger = JsonLogger("collector")
configure = _logger.configure
log = _logger.log
