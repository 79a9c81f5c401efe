"""Compatibility gate: every .avsc must stay BACKWARD-compatible with all its earlier versions.

    python -m pipelines.contracts.compat [--ref main] [--schemas-dir schemas]

For each schema file in the working tree, every distinct version of that file in the history of
``--ref`` (the main branch) is a writer; the working-tree file is the reader. The check is Apache
Avro's own ``ReaderWriterCompatibilityChecker`` (a port of Java's SchemaCompatibility), applied
transitively. A schema removed from the working tree, and a file that does not parse, fail too.
Failures name the file, the field path and the reason, e.g.::

    schemas/affiliate_click.avsc: /fields/5 'position': reader type string not compatible with
    writer type int (earlier version from commit 1a2b3c4)

Exit status: 0 compatible, 1 incompatible or unparsable.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import avro.compatibility
import avro.errors
import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from pipelines.contracts.errors import SchemaFileError
from pipelines.contracts.schemas import parse_schema_text


@dataclass(frozen=True)
class Finding:
    file: str
    message: str

    def __str__(self) -> str:
        return self.message if self.message.startswith(self.file) else f"{self.file}: {self.message}"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _has_ref(repo: Path, ref: str) -> bool:
    return (
        subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], capture_output=True
        ).returncode
        == 0
    )


def earlier_versions(repo: Path, ref: str, rel_path: str) -> list[tuple[str, str]]:
    """Distinct contents of ``rel_path`` in the history of ``ref``, newest first: (commit, text)."""
    if not _has_ref(repo, ref):
        return []
    commits = _git(repo, "log", "--format=%H", "--follow", ref, "--", rel_path).split()
    seen: set[str] = set()
    versions: list[tuple[str, str]] = []
    for commit in commits:
        try:
            text = _git(repo, "show", f"{commit}:{rel_path}")
        except subprocess.CalledProcessError:
            continue  # the commit deleted or renamed the file
        if text not in seen:
            seen.add(text)
            versions.append((commit, text))
    return versions


def _field_label(reader_doc: Any, location: str) -> str:
    """Turn '/fields/5/type' into "/fields/5 'position'" using the reader document."""
    parts = [p for p in location.split("/") if p]
    node: Any = reader_doc
    label_path: list[str] = []
    names: list[str] = []
    i = 0
    while i < len(parts):
        part = parts[i]
        if part == "fields" and i + 1 < len(parts) and isinstance(node, dict):
            idx = int(parts[i + 1])
            fields = node.get("fields", [])
            label_path.append(f"fields/{idx}")
            node = fields[idx] if idx < len(fields) else {}
            names.append(str(node.get("name", "?")))
            i += 2
            continue
        if part == "type" and isinstance(node, dict):
            node = node.get("type")
            if isinstance(node, list):
                node = next((b for b in node if isinstance(b, dict) and b.get("type") == "record"), node)
        i += 1
    path = "/" + "/".join(label_path) if label_path else location or "/"
    return f"{path} '{'.'.join(names)}'" if names else path


def check_pair(reader_text: str, writer_text: str) -> list[str]:
    """Messages for each incompatibility of reading writer data with the reader schema."""
    reader = avro.schema.parse(reader_text)
    writer = avro.schema.parse(writer_text)
    leaves: list[tuple[str, str]] = []
    original = avro.compatibility.incompatible

    def recording(kind: Any, message: str, location: list[str]) -> Any:
        joined = "/".join(location)
        leaves.append((joined[1:] if len(location) > 1 else joined, message))
        return original(kind, message, location)

    # The checker merges its findings into unordered sets; record each (location, message) pair.
    avro.compatibility.incompatible = recording  # type: ignore[assignment]
    try:
        result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
    finally:
        avro.compatibility.incompatible = original  # type: ignore[assignment]
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    reader_doc = json.loads(reader_text)
    out: list[str] = []
    # keep only what survived into the result: union matching discards failed branch attempts
    final = {(loc, msg) for loc, msg in leaves if msg in result.messages and loc in result.locations}
    for loc, msg in sorted(final, key=lambda lm: (_sort_key(lm[0]), lm[1])):
        out.append(f"{_field_label(reader_doc, loc)}: {_explain(msg)}")
    return out


def _sort_key(location: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in location.split("/") if p]


def _explain(msg: str) -> str:
    msg = msg.replace("reader type: ", "reader type ").replace("writer type: ", "writer type ")
    if " " not in msg.strip():
        return f"field {msg!r} added without a default; old records cannot be read (add a default)"
    return msg


def check_file(repo: Path, rel_path: str, ref: str) -> list[Finding]:
    path = repo / rel_path
    try:
        current_text = path.read_text(encoding="utf-8")
        parse_schema_text(current_text, rel_path)
        avro.schema.parse(current_text)
    except SchemaFileError as exc:
        return [Finding(rel_path, str(exc))]
    except avro.errors.SchemaParseException as exc:
        return [Finding(rel_path, f"invalid Avro schema: {exc}")]
    findings: list[Finding] = []
    for commit, old_text in earlier_versions(repo, ref, rel_path):
        try:
            problems = check_pair(current_text, old_text)
        except avro.errors.SchemaParseException:
            continue  # an earlier version that never parsed cannot have produced data
        findings += [Finding(rel_path, f"{p} (earlier version from commit {commit[:7]})") for p in problems]
    return findings


def run_gate(repo: Path, schemas_dir: str = "schemas", ref: str = "main") -> list[Finding]:
    findings: list[Finding] = []
    current = sorted(p.relative_to(repo).as_posix() for p in (repo / schemas_dir).glob("*.avsc"))
    for rel in current:
        findings += check_file(repo, rel, ref)
    if _has_ref(repo, ref):
        on_ref = [
            p for p in _git(repo, "ls-tree", "--name-only", f"{ref}:{schemas_dir}").split() if p.endswith(".avsc")
        ]
        for name in on_ref:
            rel = f"{schemas_dir}/{name}"
            if rel not in current:
                findings.append(Finding(rel, f"schema removed, but it exists on {ref}; consumers still read it"))
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.contracts.compat",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--schemas-dir", default="schemas")
    parser.add_argument("--ref", default="main", help="branch whose history holds the earlier versions")
    args = parser.parse_args(argv)
    repo = Path(_git(args.repo, "rev-parse", "--show-toplevel").strip())
    if not _has_ref(repo, args.ref) and _has_ref(repo, f"origin/{args.ref}"):
        args.ref = f"origin/{args.ref}"  # a CI checkout may only have the remote-tracking branch
    findings = run_gate(repo, args.schemas_dir, args.ref)
    files = len(list((repo / args.schemas_dir).glob("*.avsc")))
    if findings:
        for f in findings:
            print(f, file=sys.stderr)
        print(f"compatibility gate: {len(findings)} problem(s) in {files} schema file(s)", file=sys.stderr)
        return 1
    print(f"compatibility gate: {files} schema file(s) BACKWARD-compatible with all earlier versions on {args.ref}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
