"""Avro binary writers generated per contract (pure functions, no I/O), for records the fast path
already validated: the types are known to be right, so each field is written without the generic
per-field dispatch and union search of a schema-driven writer.

``compile_writer(definition)`` returns ``write(record) -> bytes`` whose output is byte-for-byte what
``fastavro.schemaless_writer`` writes for the same schema (tests compare them on every sample).
Anything unexpected (a value of the wrong type, a string that is not encodable) raises, and the
collector then takes the per-event path, which uses fastavro and explains the problem.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

Writer = Callable[[dict[str, Any]], bytes]
_pack_double = struct.Struct("<d").pack
_pack_float = struct.Struct("<f").pack


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_HIGH: dict[int, bytes] = {}  # varints of n >> 14 for big n: ms timestamps share them for ~8 s


def _long(n: int) -> bytes:
    """Zig-zag varint of a long."""
    n = (n << 1) ^ (n >> 63)
    if n < 0x80:
        return bytes((n,))
    if n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    high = n >> 14
    tail = _HIGH.get(high)
    if tail is None:
        if len(_HIGH) > 4096:
            _HIGH.clear()
        tail = _HIGH[high] = _varint(high)
    return bytes(((n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80)) + tail


_SMALL = [bytes((n << 1,)) for n in range(64)]  # zig-zag varints of 0..63: one byte


# Encoded strings by value: events of a batch repeat most context values (site, page, UTM, user
# agent, geo), so each is encoded once. Bounded; UUIDs (unique per event) are not cached.
_CACHEABLE = 256
_S: dict[str, bytes] = {}
_NS: dict[str | None, bytes] = {None: b"\x00"}


def _s(v: str) -> bytes:
    b = v.encode()
    out = (_SMALL[len(b)] if len(b) < 64 else _long(len(b))) + b
    if len(v) <= _CACHEABLE:
        if len(_S) > 20_000:
            _S.clear()
        _S[v] = out
    return out


def _ns(v: str) -> bytes:
    out = b"\x02" + _s(v)
    if len(v) <= _CACHEABLE:
        if len(_NS) > 20_000:
            _NS.clear()
            _NS[None] = b"\x00"
        _NS[v] = out
    return out


def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    return _long(len(b)) + b


class _Gen:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {
            "_long": _long,
            "_str": _str,
            "_pd": _pack_double,
            "_pf": _pack_float,
            "_SMALL": _SMALL,
            "_S": _S,
            "_NS": _NS,
            "_s": _s,
            "_ns": _ns,
        }
        self.n = 0

    def var(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def value(self, schema: Any, expr: str, depth: int) -> None:
        """Append the encoding of ``expr`` (a Python expression) to ``out``."""
        if isinstance(schema, list):
            non_null = [b for b in schema if b != "null"]
            if len(schema) != 2 or len(non_null) != 1:
                raise ValueError(f"unsupported union {schema!r}")
            null_index = schema.index("null")
            if null_index == 0 and non_null[0] == "string":  # ["null", "string"]: one cached lookup
                self.emit(depth, f"out += _NS.get({expr}) or _ns({expr})")
                return
            v = self.var("u")
            self.emit(depth, f"{v} = {expr}")
            self.emit(depth, f"if {v} is None:")
            self.emit(depth + 1, f"out += {bytes((null_index * 2,))!r}")
            self.emit(depth, "else:")
            self.emit(depth + 1, f"out += {bytes(((1 - null_index) * 2,))!r}")
            self.value(non_null[0], v, depth + 1)
            return
        kind = schema if isinstance(schema, str) else schema["type"]
        spec: dict[str, Any] = schema if isinstance(schema, dict) else {}
        if kind == "null":
            self.emit(depth, f"if {expr} is not None: raise TypeError('expected null')")
        elif kind == "boolean":
            v = self.var("b")
            self.emit(depth, f"{v} = {expr}")
            self.emit(depth, f"if {v} is True: out += b'\\x01'")
            self.emit(depth, f"elif {v} is False: out += b'\\x00'")
            self.emit(depth, "else: raise TypeError('expected boolean')")
        elif kind in ("int", "long"):
            v = self.var("i")
            self.emit(depth, f"{v} = {expr}")
            self.emit(depth, f"if type({v}) is not int: raise TypeError('expected int')")
            bound = 31 if kind == "int" else 63
            self.emit(depth, f"if not {-(2**bound)} <= {v} < {2**bound}: raise ValueError('out of range')")
            self.emit(depth, f"out += _SMALL[{v}] if 0 <= {v} < 64 else _long({v})")
        elif kind == "double":
            self.emit(depth, f"out += _pd({expr})")
        elif kind == "float":
            self.emit(depth, f"out += _pf({expr})")
        elif kind == "string" and spec.get("logicalType") != "uuid":
            self.emit(depth, f"out += _S.get({expr}) or _s({expr})")
        elif kind == "string":
            y, n = self.var("y"), self.var("n")
            self.emit(depth, f"{y} = {expr}.encode()")
            self.emit(depth, f"{n} = len({y})")
            self.emit(depth, f"out += _SMALL[{n}] if {n} < 64 else _long({n})")
            self.emit(depth, f"out += {y}")
        elif kind == "bytes":
            v = self.var("y")
            self.emit(depth, f"{v} = bytes({expr})")
            self.emit(depth, f"out += _long(len({v})) + {v}")
        elif kind == "enum":
            table = self.var("E")
            self.consts[table] = {s: _long(i) for i, s in enumerate(spec["symbols"])}
            self.emit(depth, f"out += {table}[{expr}]")
        elif kind == "array":
            v, x = self.var("a"), self.var("x")
            self.emit(depth, f"{v} = {expr}")
            self.emit(depth, f"if {v}:")
            self.emit(depth + 1, f"out += _long(len({v}))")
            self.emit(depth + 1, f"for {x} in {v}:")
            self.value(spec["items"], x, depth + 2)
            self.emit(depth, "out += b'\\x00'")
        elif kind == "map":
            v, k, x = self.var("m"), self.var("k"), self.var("x")
            self.emit(depth, f"{v} = {expr}")
            self.emit(depth, f"if {v}:")
            self.emit(depth + 1, f"out += _long(len({v}))")
            self.emit(depth + 1, f"for {k}, {x} in {v}.items():")
            self.emit(depth + 2, f"out += _str({k})")
            self.value(spec["values"], x, depth + 2)
            self.emit(depth, "out += b'\\x00'")
        elif kind == "record":
            r = self.var("r")
            self.emit(depth, f"{r} = {expr}")
            for f in spec["fields"]:
                self.value(f["type"], f"{r}[{f['name']!r}]", depth)
        else:
            raise ValueError(f"unsupported Avro type {kind!r}")


def compile_writer(definition: Mapping[str, Any]) -> Writer:
    gen = _Gen()
    gen.emit(0, "def write(record):")
    gen.emit(1, "out = bytearray()")
    gen.value(dict(definition), "record", 1)
    gen.emit(1, "return bytes(out)")
    namespace = dict(gen.consts)
    exec(compile("\n".join(gen.lines), f"<avro writer {definition.get('name')}>", "exec"), namespace)
    return namespace["write"]
