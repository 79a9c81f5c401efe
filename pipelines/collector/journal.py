"""A bounded, fsync'd, append-only journal of Kafka records that could not be delivered.

Layout of the journal directory::

    seg-<n>.log   frames appended in order; a new segment starts past ``segment_bytes``
    cursor        "<segment n> <byte offset>": everything before it was acknowledged by Kafka

Frame: ``>II`` (payload length, CRC-32 of the payload) then the payload ``>HI`` (topic length,
key length or 0xFFFFFFFF for no key), topic, key, value. A torn frame at the tail (crash during
a write) fails its length or CRC check and is cut off when the journal opens; every frame that
was acknowledged to a client was fsync'd before the answer.

``append`` raises :class:`JournalFullError` when the unacknowledged bytes would pass ``max_bytes``;
the collector answers 503 with Retry-After then. The replayer reads from the cursor, produces,
and calls ``commit`` with the position after the last acknowledged frame: only then are
segments deleted. Thread-safe (one lock); callers run it in a worker thread.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

_FRAME = struct.Struct(">II")
_PAYLOAD = struct.Struct(">HI")
_NO_KEY = 0xFFFFFFFF


class JournalFullError(Exception):
    def __init__(self, pending: int, adding: int, cap: int) -> None:
        super().__init__(f"journal holds {pending} bytes; adding {adding} would pass the cap of {cap} bytes")


@dataclass(frozen=True)
class Entry:
    topic: str
    key: bytes | None
    value: bytes


@dataclass(frozen=True, order=True)
class Position:
    segment: int
    offset: int


def encode_frame(entry: Entry) -> bytes:
    topic = entry.topic.encode()
    key = entry.key or b""
    payload = _PAYLOAD.pack(len(topic), _NO_KEY if entry.key is None else len(key)) + topic + key + entry.value
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def _decode_payload(payload: bytes) -> Entry:
    tlen, klen = _PAYLOAD.unpack_from(payload)
    pos = _PAYLOAD.size
    topic = payload[pos : pos + tlen].decode()
    pos += tlen
    key: bytes | None = None
    if klen != _NO_KEY:
        key = payload[pos : pos + klen]
        pos += klen
    return Entry(topic, key, payload[pos:])


def _scan(data: bytes) -> tuple[list[tuple[Entry, int]], int]:
    """Complete, intact frames of ``data`` with the offset after each; and where the intact part ends."""
    out: list[tuple[Entry, int]] = []
    pos = 0
    while pos + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, pos)
        end = pos + _FRAME.size + length
        if end > len(data):
            break
        payload = data[pos + _FRAME.size : end]
        if zlib.crc32(payload) != crc:
            break
        out.append((_decode_payload(payload), end))
        pos = end
    return out, pos


class Journal:
    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int = 8 * 1024 * 1024) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        self._cursor = self._read_cursor()
        self._sizes: dict[int, int] = {}
        for seg in self._segments():
            self._sizes[seg] = self._repair(seg)
        if not self._sizes:
            self._sizes[max(self._cursor.segment, 1)] = 0
            self._path(max(self._cursor.segment, 1)).touch()
        first = min(self._sizes)
        if self._cursor.segment < first:
            self._cursor = Position(first, 0)
        self._active = max(self._sizes)
        self._fd = os.open(self._path(self._active), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    # ------------------------------------------------------------------ files

    def _path(self, segment: int) -> Path:
        return self.directory / f"seg-{segment:012d}.log"

    def _segments(self) -> list[int]:
        return sorted(int(p.stem[4:]) for p in self.directory.glob("seg-*.log"))

    def _repair(self, segment: int) -> int:
        path = self._path(segment)
        data = path.read_bytes()
        _, intact = _scan(data)
        if intact != len(data):
            with path.open("r+b") as f:
                f.truncate(intact)
                os.fsync(f.fileno())
        return intact

    def _read_cursor(self) -> Position:
        try:
            seg, off = (self.directory / "cursor").read_text().split()
            return Position(int(seg), int(off))
        except (OSError, ValueError):
            return Position(0, 0)

    def _write_cursor(self, pos: Position) -> None:
        tmp = self.directory / "cursor.tmp"
        with tmp.open("w") as f:
            f.write(f"{pos.segment} {pos.offset}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.directory / "cursor")
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ API

    @property
    def pending_bytes(self) -> int:
        with self._lock:
            return self._pending()

    def _pending(self) -> int:
        return sum(size for seg, size in self._sizes.items() if seg >= self._cursor.segment) - self._cursor.offset

    def is_empty(self) -> bool:
        return self.pending_bytes == 0

    def append(self, entries: list[Entry]) -> None:
        """Write and fsync ``entries``; raise JournalFullError (writing nothing) past the cap."""
        if not entries:
            return
        data = b"".join(encode_frame(e) for e in entries)
        with self._lock:
            pending = self._pending()
            if pending + len(data) > self.max_bytes:
                raise JournalFullError(pending, len(data), self.max_bytes)
            if self._sizes[self._active] >= self.segment_bytes:
                self._rotate()
            os.write(self._fd, data)
            os.fsync(self._fd)
            self._sizes[self._active] += len(data)

    def _rotate(self) -> None:
        os.close(self._fd)
        self._active += 1
        self._sizes[self._active] = 0
        self._fd = os.open(self._path(self._active), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._fsync_dir()

    def read(self, max_entries: int = 1000, max_bytes: int = 4 * 1024 * 1024) -> list[tuple[Entry, Position]]:
        """Entries from the cursor on, each with the position after it (what to commit)."""
        out: list[tuple[Entry, Position]] = []
        with self._lock:
            pos = self._cursor
            sizes = dict(self._sizes)
        budget = max_bytes
        for seg in sorted(s for s in sizes if s >= pos.segment):
            start = pos.offset if seg == pos.segment else 0
            end = min(sizes[seg], start + budget)
            if end <= start:
                continue
            with self._path(seg).open("rb") as f:
                f.seek(start)
                data = f.read(end - start)
            frames, _ = _scan(data)
            if not frames and end < sizes[seg]:  # one frame larger than the budget: read it whole
                with self._path(seg).open("rb") as f:
                    f.seek(start)
                    data = f.read(sizes[seg] - start)
                frames, _ = _scan(data)
                frames = frames[:1]
            for entry, after in frames:
                out.append((entry, Position(seg, start + after)))
                if len(out) >= max_entries:
                    return out
            budget -= end - start
            if budget <= 0 or end < sizes[seg]:
                break
        return out

    def commit(self, pos: Position) -> None:
        """Everything before ``pos`` was acknowledged: move the cursor, delete finished segments."""
        with self._lock:
            if pos <= self._cursor:
                return
            if pos.offset == self._sizes.get(pos.segment) and pos.segment == self._active:
                # fully drained: start a fresh segment so the disk does not keep acknowledged data
                self._rotate()
                pos = Position(self._active, 0)
            self._write_cursor(pos)
            self._cursor = pos
            for seg in [s for s in self._sizes if s < pos.segment]:
                self._path(seg).unlink(missing_ok=True)
                del self._sizes[seg]

    def close(self) -> None:
        with self._lock:
            os.close(self._fd)
