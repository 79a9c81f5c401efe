"""Structured logs shared by the services: one JSON line per event of interest on stderr."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import orjson

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class JsonLogger:
    def __init__(self, name: str) -> None:
        self.name = name
        self._level = LEVELS["info"]
        self._stream: TextIO | None = None

    def configure(self, level: str = "info", stream: TextIO | None = None) -> None:
        self._level = LEVELS[level]
        self._stream = stream

    def log(self, event: str, level: str = "info", **fields: Any) -> None:
        if LEVELS[level] < self._level:
            return
        line = orjson.dumps(
            {"ts": round(time.time(), 3), "level": level, "logger": self.name, "event": event, **fields}, default=str
        )
        stream = self._stream or sys.stderr
        stream.write(line.decode() + "\n")
        stream.flush()
