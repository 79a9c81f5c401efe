"""Structured logs of the dashboard (JSON lines on stderr)."""

from __future__ import annotations

from pipelines.logs import JsonLogger

_logger = JsonLogger("dashboard")
configure = _logger.configure
log = _logger.log
