"""The compatibility gate on fixture repositories with their own small git history."""

import json
import subprocess
from pathlib import Path

import pytest

from pipelines.contracts.compat import main, run_gate

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "schemas").mkdir()
    for name in ("affiliate_click.avsc", "page_view.avsc"):
        (tmp_path / "schemas" / name).write_text((SCHEMAS / name).read_text())
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "v1")
    return tmp_path


def _edit(repo: Path, name: str, change) -> None:
    path = repo / "schemas" / name
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2))


def _field(doc, name):
    return next(f for f in doc["fields"] if f["name"] == name)


def test_gate_accepts_a_compatible_change(repo):
    _edit(
        repo,
        "affiliate_click.avsc",
        lambda d: d["fields"].append(
            {"name": "coupon", "type": ["null", "string"], "default": None, "doc": "Coupon shown on the link."}
        ),
    )
    _edit(repo, "page_view.avsc", lambda d: _field(d, "navigation_type")["type"]["symbols"].append("restore"))
    assert run_gate(repo) == []


def test_gate_rejects_an_incompatible_change_naming_file_field_and_reason(repo, capsys):
    _git(repo, "commit", "-qm", "noop", "--allow-empty")
    commit = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%h", "-1", "--", "schemas/affiliate_click.avsc"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    _edit(repo, "affiliate_click.avsc", lambda d: _field(d, "position").update(type="string"))
    assert main(["--repo", str(repo)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"schemas/affiliate_click.avsc: /fields/7 'position': reader type string not compatible with writer type int "
        f"(earlier version from commit {commit})",
        "compatibility gate: 1 problem(s) in 2 schema file(s)",
    ]


def test_gate_checks_all_earlier_versions_transitively(repo):
    # v2 adds a field with a default (compatible with v1); v3 drops the default: v1 data lacks the field.
    _edit(
        repo,
        "page_view.avsc",
        lambda d: d["fields"].append(
            {"name": "scroll_depth", "type": "int", "default": 0, "doc": "Max scroll depth in percent."}
        ),
    )
    _git(repo, "commit", "-qam", "v2")
    _edit(repo, "page_view.avsc", lambda d: _field(d, "scroll_depth").pop("default"))
    findings = [str(f) for f in run_gate(repo)]
    assert len(findings) == 1
    assert findings[0].startswith(
        "schemas/page_view.avsc: /fields/5 'scroll_depth': field 'scroll_depth' added without a default"
    )


def test_gate_fails_a_malformed_schema_with_file_and_position(repo):
    (repo / "schemas" / "page_view.avsc").write_text('{"type": "record", "name": "PageView",\n "fields": [}\n')
    assert [str(f) for f in run_gate(repo)] == ["schemas/page_view.avsc:2:13: invalid JSON: Expecting value"]


def test_gate_fails_when_a_schema_on_main_is_removed(repo):
    (repo / "schemas" / "page_view.avsc").unlink()
    assert [str(f) for f in run_gate(repo)] == [
        "schemas/page_view.avsc: schema removed, but it exists on main; consumers still read it"
    ]


def test_repository_schemas_pass_the_gate():
    repo = SCHEMAS.parent
    assert [str(f) for f in run_gate(repo)] == []
