"""Structured logs: one JSON line per event of interest on stderr."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import orjson

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_state: dict[str, Any] = {"level": 20, "stream": None}


def configure(level: str = "info", stream: TextIO | None = None) -> None:
    _state["level"] = _LEVELS[level]
    _state["stream"] = stream


def log(event: str, level: str = "info", **fields: Any) -> None:
    if _LEVELS[level] < _state["level"]:
        return
    line = orjson.dumps(
        {"ts": round(time.time(), 3), "level": level, "logger": "dashboard", "event": event, **fields},
        default=str,
    )
    stream = _state["stream"] or sys.stderr
    stream.write(line.decode() + "\n")
    stream.flush()
