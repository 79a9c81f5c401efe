"""Pulumi mocks for the infra tests (recipe: ../shared/research/pulumi.md §3)."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import pytest
import yaml

from stacks.mocks import mock_call, mock_outputs

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROJECT = "affiliate-analytics"
SECRET_MARKER = "4dabf18193072939515e22adb298388d"
FAKE_SECRETS = {
    "ipHashSalt": "salt-value-not-for-output",
    "snowflakePrivateKey": "-----BEGIN PRIVATE KEY-----deployer",
    "snowflakeTransformerPrivateKey": "-----BEGIN PRIVATE KEY-----transformer",
    "snowflakeMonitorPrivateKey": "-----BEGIN PRIVATE KEY-----monitor",
    "snowflakeDashboardPrivateKey": "-----BEGIN PRIVATE KEY-----dashboard",
}


@dataclass
class Recorded:
    typ: str
    name: str
    inputs: dict[str, Any]
    provider: str | None


@dataclass
class Recorder(pulumi.runtime.Mocks):
    created: list[Recorded] = field(default_factory=list)
    protected: dict[tuple[str, str], bool] = field(default_factory=dict)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        self.created.append(Recorded(args.typ, args.name, dict(args.inputs), args.provider or None))
        return f"{args.name}-id", mock_outputs(args.typ, args.name, dict(args.inputs))

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]]]:
        return mock_call(args.token), []

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.created if r.typ == typ]

    def one(self, typ: str, name: str | None = None) -> Recorded:
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {[r.name for r in found]}"
        return found[0]


def start_mocks(stack: str = "dev", config: dict[str, str] | None = None) -> Recorder:
    # Pulumi's test runtime takes the thread's current event loop; an earlier asyncio.run() in the
    # same pytest process leaves none (it sets it to None on exit)
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.settings.ROOT.set(None)  # fresh root stack: no leaked transformations
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack=stack, preview=False)
    values = dict(config or {})
    secrets = [k for k in values if k.split(":", 1)[1] in FAKE_SECRETS]
    pulumi.runtime.set_all_config(values, secret_keys=secrets)
    return recorder


@pytest.fixture
def mocks() -> Recorder:
    return start_mocks()


def stack_config_values(stack: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """What the Pulumi engine would pass: the stack file's values (JSON for objects) + fake secrets."""
    document = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    values: dict[str, str] = {}
    for key, value in {**document["config"], **(overrides or {})}.items():
        values[key] = value if isinstance(value, str) else json.dumps(value)
    for key, value in FAKE_SECRETS.items():
        values[f"{PROJECT}:{key}"] = value
    return values


def run_program(stack: str, overrides: dict[str, Any] | None = None) -> tuple[Recorder, Any]:
    """Run the whole stack program (stacks.program.run) under mocks and return what was recorded."""
    from stacks.program import run

    recorder = start_mocks(stack, stack_config_values(stack, overrides))
    holder: dict[str, Any] = {}

    def remember_protect(args: pulumi.ResourceTransformationArgs) -> None:
        recorder.protected[(args.type_, args.name)] = bool(args.opts.protect)

    @pulumi.runtime.test
    def program() -> None:
        pulumi.runtime.register_stack_transformation(remember_protect)  # type: ignore[arg-type]
        holder["platform"] = run()

    program()
    return recorder, holder["platform"]


_PROGRAMS: dict[str, Recorder] = {}
DURATIONS: dict[str, float] = {}


def _program(name: str) -> Recorder:
    if name not in _PROGRAMS:
        # CPU seconds of this process (every thread: the program and the mock engine), not wall time:
        # other work on a shared machine must not fail the bound, only the program's own cost may
        started = time.process_time()
        _PROGRAMS[name] = run_program(name)[0]
        DURATIONS[name] = time.process_time() - started
    return _PROGRAMS[name]


@pytest.fixture(params=["dev", "prod"])
def stack(request: pytest.FixtureRequest) -> Recorder:
    """The recorded resources of the whole program for each stack (run once per session)."""
    return _program(request.param)


@pytest.fixture
def dev() -> Recorder:
    return _program("dev")


@pytest.fixture
def prod() -> Recorder:
    return _program("prod")


def is_taggable(typ: str) -> bool:
    """Whether the AWS SDK class for a type token has a ``tags`` argument."""
    if not typ.startswith("aws:") or typ.startswith("pulumi:"):
        return False
    module, cls = typ.split(":")[1].rpartition("/")[0], typ.split(":")[2]
    package = "pulumi_aws" if module == "index" else f"pulumi_aws.{module}"
    klass: Callable[..., Any] | None = getattr(importlib.import_module(package), cls, None)
    return klass is not None and hasattr(klass, "tags")


def provider_tags(recorder: Recorder, provider_ref: str | None) -> dict[str, str]:
    assert provider_ref, "resource has no explicit provider"
    name = provider_ref.split("::")[3]
    provider = recorder.one("pulumi:providers:aws", name)
    return json.loads(provider.inputs["defaultTags"])["tags"]


def unsecret(value: Any) -> Any:
    if isinstance(value, dict) and SECRET_MARKER in value:
        return value["value"]
    return value


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_MARKER in value


def mocked(build: Callable[[], T]) -> T:
    """Run ``build`` as a Pulumi program under the active mocks; return after every resource registered."""
    holder: dict[str, T] = {}

    @pulumi.runtime.test
    def program() -> None:
        holder["result"] = build()

    program()
    return holder["result"]
