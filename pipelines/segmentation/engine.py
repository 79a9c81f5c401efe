"""The segmentation rules engine: parse and validate a rules file, evaluate facts, reload on change.

A rules file::

    version: 3                      # bumped on every change; recorded with each evaluation
    rules:
      - name: high_intent           # [a-z][a-z0-9_]*, unique
        description: Clicked a top-3 product
        scope: event                # event (default) or session
        when:                       # a condition: all / any / not, or a leaf
          all:
            - {field: event_type, op: eq, value: affiliate_click}
            - {field: event.position, op: lte, value: 3}

Fields are dotted paths into the facts of one evaluation: ``event_type``, ``event.<path>`` (the
decoded record), ``enrich.<name>`` (device_type, browser, os, channel, is_bot), ``session.<counter>``
(events, page_views, impressions, chart_interactions, clicks, conversions; session scope only) and
``profile.<column>`` (the visitor's row of the profile table). A missing field is null.
Operators: eq, ne, gt, gte, lt, lte, in, not_in, contains, matches (regex), exists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "matches", "exists")
SCOPES = ("event", "session")
ROOTS = ("event_type", "event", "enrich", "session", "profile")
SESSION_COUNTERS = ("events", "page_views", "impressions", "chart_interactions", "clicks", "conversions")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_RULE_KEYS = {"name", "description", "scope", "when"}


class RulesError(ValueError):
    """A rules file is invalid; ``problems`` lists each as 'rules[i] (name).field: what is wrong'."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: invalid segmentation rules:\n  " + "\n  ".join(problems))
        self.source = source
        self.problems = problems


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    scope: str
    when: Mapping[str, Any]

    def matches(self, facts: Mapping[str, Any]) -> bool:
        return _eval(self.when, facts)


@dataclass(frozen=True)
class RuleSet:
    version: int
    rules: tuple[Rule, ...]
    uses_event_payload: bool = field(default=False)

    def evaluate(self, facts: Mapping[str, Any], scope: str = "event") -> list[str]:
        """Names of the rules of ``scope`` whose condition holds for ``facts``, in file order."""
        return [r.name for r in self.rules if r.scope == scope and r.matches(facts)]

    def fields(self, scope: str = "event") -> set[str]:
        """Every fact path the rules of ``scope`` read."""
        return {f for r in self.rules if r.scope == scope for f in _leaves(r.when)}

    def event_paths(self) -> tuple[str, ...]:
        """The record paths (``event.<path>``) the event-scope rules read, sorted."""
        if not self.uses_event_payload:
            return ()
        return tuple(sorted({f.split(".", 1)[1] for f in self.fields("event") if f.startswith("event.")}))

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "rules": [
                {"name": r.name, "description": r.description, "scope": r.scope, "when": r.when} for r in self.rules
            ],
        }


# ---------------------------------------------------------------- evaluation


def _leaves(cond: Mapping[str, Any]) -> Iterator[str]:
    """The ``field`` of every comparison in a condition."""
    for key in ("all", "any"):
        if key in cond:
            for c in cond[key]:
                yield from _leaves(c)
            return
    if "not" in cond:
        yield from _leaves(cond["not"])
        return
    yield str(cond["field"])


def lookup(facts: Mapping[str, Any], path: str) -> Any:
    node: Any = facts
    for part in path.split("."):
        if isinstance(node, Mapping):
            node = node.get(part)
        else:
            return None
        if node is None:
            return None
    return node


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "exists":
        return (actual is not None) == bool(expected)
    if actual is None:
        return op in ("ne", "not_in")
    try:
        if op == "eq":
            return actual == expected
        if op == "ne":
            return actual != expected
        if op == "gt":
            return actual > expected
        if op == "gte":
            return actual >= expected
        if op == "lt":
            return actual < expected
        if op == "lte":
            return actual <= expected
        if op == "in":
            return actual in expected
        if op == "not_in":
            return actual not in expected
        if op == "contains":
            return str(expected).lower() in str(actual).lower()
        if op == "matches":
            return re.search(str(expected), str(actual)) is not None
    except TypeError:  # e.g. comparing a string with a number: the condition does not hold
        return False
    return False


def _eval(cond: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    if "all" in cond:
        return all(_eval(c, facts) for c in cond["all"])
    if "any" in cond:
        return any(_eval(c, facts) for c in cond["any"])
    if "not" in cond:
        return not _eval(cond["not"], facts)
    return _compare(cond["op"], lookup(facts, cond["field"]), cond.get("value"))


# ---------------------------------------------------------------- validation


def _check_condition(cond: Any, where: str, scope: str, problems: list[str]) -> None:
    if not isinstance(cond, Mapping):
        problems.append(f"{where}: expected a mapping (all/any/not or field/op/value), got {type(cond).__name__}")
        return
    combinators = [k for k in ("all", "any", "not") if k in cond]
    if combinators:
        if len(cond) != 1:
            problems.append(f"{where}: '{combinators[0]}' must be the only key, found {sorted(cond)}")
            return
        key = combinators[0]
        if key == "not":
            _check_condition(cond["not"], f"{where}.not", scope, problems)
            return
        items = cond[key]
        if not isinstance(items, list) or not items:
            problems.append(f"{where}.{key}: expected a non-empty list of conditions")
            return
        for i, c in enumerate(items):
            _check_condition(c, f"{where}.{key}[{i}]", scope, problems)
        return
    unknown = set(cond) - {"field", "op", "value"}
    if unknown:
        problems.append(f"{where}: unknown key(s) {sorted(unknown)}; allowed: all, any, not, field, op, value")
    fld, op = cond.get("field"), cond.get("op")
    if not isinstance(fld, str) or not fld:
        problems.append(f"{where}.field: required, a dotted path starting with one of {', '.join(ROOTS)}")
    else:
        root = fld.split(".", 1)[0]
        if root not in ROOTS:
            problems.append(f"{where}.field: '{fld}' must start with one of {', '.join(ROOTS)}")
        elif root == "session" and scope != "session":
            problems.append(f"{where}.field: '{fld}' needs scope: session")
        elif root == "session" and fld.split(".", 1)[-1] not in SESSION_COUNTERS:
            problems.append(f"{where}.field: '{fld}' is not a session counter; known: {', '.join(SESSION_COUNTERS)}")
    if op not in OPERATORS:
        problems.append(f"{where}.op: {op!r} is not one of {', '.join(OPERATORS)}")
        return
    value = cond.get("value")
    if op in ("in", "not_in") and not isinstance(value, list):
        problems.append(f"{where}.value: operator '{op}' needs a list")
    elif op in ("gt", "gte", "lt", "lte") and (not isinstance(value, int | float) or isinstance(value, bool)):
        problems.append(f"{where}.value: operator '{op}' needs a number, got {value!r}")
    elif op == "matches":
        try:
            re.compile(str(value))
        except re.error as exc:
            problems.append(f"{where}.value: invalid regular expression {value!r}: {exc}")
    elif op == "exists" and not isinstance(value, bool):
        problems.append(f"{where}.value: operator 'exists' needs true or false")
    elif op not in ("exists",) and "value" not in cond:
        problems.append(f"{where}.value: required for operator '{op}'")


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Parse and validate a rules document; raise RulesError listing every problem."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(source, [f"not valid YAML: {exc}"]) from None
    problems: list[str] = []
    if not isinstance(doc, Mapping):
        raise RulesError(source, ["top level must be a mapping with 'version' and 'rules'"])
    unknown_top = set(doc) - {"version", "rules"}
    if unknown_top:
        problems.append(f"unknown top-level key(s) {sorted(unknown_top)}; allowed: version, rules")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(f"version: required, a positive integer, got {version!r}")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        problems.append("rules: required, a non-empty list")
        raw_rules = []
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        if not isinstance(raw, Mapping):
            problems.append(f"rules[{i}]: expected a mapping")
            continue
        name = raw.get("name")
        where = f"rules[{i}] ({name})" if isinstance(name, str) else f"rules[{i}]"
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            problems.append(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(_RULE_KEYS))}")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(f"{where}.name: required, lowercase letters, digits and '_', starting with a letter")
        elif name in seen:
            problems.append(f"{where}.name: duplicate rule name '{name}'")
        else:
            seen.add(name)
        scope = raw.get("scope", "event")
        if scope not in SCOPES:
            problems.append(f"{where}.scope: {scope!r} is not one of {', '.join(SCOPES)}")
        if "when" not in raw:
            problems.append(f"{where}.when: required")
        else:
            _check_condition(raw["when"], f"{where}.when", scope, problems)
        rules.append(Rule(str(name), str(raw.get("description", "")), str(scope), raw.get("when") or {}))
    if problems:
        raise RulesError(source, problems)
    uses_payload = '"event.' in json.dumps([r.when for r in rules])
    assert isinstance(version, int)  # checked above: problems would have been raised
    return RuleSet(version, tuple(rules), uses_payload)


def load_rules(path: Path) -> RuleSet:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(str(path), [f"cannot read: {exc.strerror}"]) from None
    return parse_rules(text, str(path))


def default_rules_file() -> Path:
    return Path(__file__).with_name("rules.yaml")


# ---------------------------------------------------------------- profiles


def load_profiles(path: Path | None) -> dict[str, dict[str, Any]]:
    """The profile table keyed by visitor_id: JSON lines, CSV or Parquet (a Snowflake/S3 extract)."""
    if path is None:
        return {}
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    elif path.suffix == ".csv":
        import csv

        with path.open(newline="", encoding="utf-8") as f:
            rows = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
    else:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        if "visitor_id" not in row:
            raise ValueError(f"{path}: row {i + 1} has no visitor_id column")
        out[str(row["visitor_id"])] = row
    return out


def _number(v: str) -> Any:
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


# ---------------------------------------------------------------- the stream's view


def _loads(text: str) -> Any:
    """JSON → Python, by orjson (a few times faster on the stream's ~1.5 KB payloads); what it
    refuses and json accepts (NaN, Infinity, integers beyond 64 bits) goes to json."""
    try:
        import orjson

        return orjson.loads(text)
    except (ImportError, ValueError):
        return json.loads(text)


@dataclass(frozen=True)
class Segmenter:
    """Rules + profiles, shipped to Spark tasks; evaluates one lake row (event scope)."""

    rules: RuleSet
    profiles: Mapping[str, Mapping[str, Any]]
    session_segments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def facts_for_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        event: Any = None
        if self.rules.uses_event_payload and row.get("payload"):
            event = _loads(row["payload"])
        return {
            "event_type": row.get("event_type"),
            "event": event,
            "enrich": {
                "device_type": row.get("device_type"),
                "browser": row.get("browser"),
                "os": row.get("os"),
                "channel": row.get("channel"),
                "is_bot": row.get("is_bot"),
            },
            "profile": self.profiles.get(str(row.get("visitor_id"))),
        }

    def segments_for_row(self, row: Mapping[str, Any]) -> list[str]:
        segs = self.rules.evaluate(self.facts_for_row(row), "event")
        segs.extend(s for s in self.session_segments.get(str(row.get("session_id")), ()) if s not in segs)
        return segs


class RulesWatcher:
    """Holds the current rules of a file and reloads them when the file changes (checked on each
    call, i.e. once per micro-batch). An invalid new version is logged and the last good one kept."""

    def __init__(self, rules_file: Path, profiles_file: Path | None = None) -> None:
        self.rules_file = rules_file
        self.profiles_file = profiles_file
        self._stamp: tuple[float, int] | None = None
        self._profiles_stamp: tuple[float, int] | None = None
        self.rules = load_rules(rules_file)
        self._stamp = self._stat(rules_file)
        self.profiles = load_profiles(profiles_file)
        self._profiles_stamp = self._stat(profiles_file) if profiles_file else None
        self.last_error: str | None = None

    @staticmethod
    def _stat(path: Path) -> tuple[float, int]:
        st = path.stat()
        return (st.st_mtime, st.st_size)

    def current(self) -> Segmenter:
        stamp = self._stat(self.rules_file)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self.rules = load_rules(self.rules_file)
                self.last_error = None
                _log("segmentation_rules_reloaded", file=str(self.rules_file), version=self.rules.version)
            except RulesError as exc:
                self.last_error = str(exc)
                _log("segmentation_rules_rejected", file=str(self.rules_file), problems=exc.problems)
        if self.profiles_file is not None:
            pstamp = self._stat(self.profiles_file)
            if pstamp != self._profiles_stamp:
                self._profiles_stamp = pstamp
                self.profiles = load_profiles(self.profiles_file)
        return Segmenter(self.rules, self.profiles)


def _log(event: str, **fields: object) -> None:
    import sys
    import time

    print(json.dumps({"ts": round(time.time(), 3), "event": event, **fields}), file=sys.stderr, flush=True)
