"""The resource graph of a stack, offline: run the program under Pulumi's mocks, print an export.

    python -m stacks.inventory dev > dev-resources.json

The output has the shape of ``pulumi stack export`` (``deployment.resources[]`` with ``urn``,
``type``, ``inputs``, ``provider``, ``protect``), so the cost review reads a real export and this
one alike. Secrets are replaced by placeholders; nothing reaches a cloud API.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pulumi
import yaml

from stacks.config import PROJECT, SECRET_KEYS, stack_file
from stacks.mocks import mock_call, mock_outputs
from stacks.program import REPO_ROOT


class _Recorder(pulumi.runtime.Mocks):
    def __init__(self, stack: str) -> None:
        self.stack = stack
        self.resources: list[dict[str, Any]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        urn = f"urn:pulumi:{self.stack}::{PROJECT}::{args.typ}::{args.name}"
        self.resources.append(
            {"urn": urn, "type": args.typ, "custom": True, "inputs": dict(args.inputs), "provider": args.provider}
        )
        return f"{args.name}-id", mock_outputs(args.typ, args.name, dict(args.inputs))

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]]]:
        return mock_call(args.token), []


def inventory(stack: str) -> dict[str, Any]:
    from stacks.program import run

    document = yaml.safe_load((REPO_ROOT / stack_file(stack)).read_text(encoding="utf-8"))
    values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in document["config"].items()}
    values.update({f"{PROJECT}:{key}": "<secret placeholder>" for key in SECRET_KEYS})
    pulumi.runtime.settings.ROOT.set(None)
    recorder = _Recorder(stack)
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(values, secret_keys=[f"{PROJECT}:{k}" for k in SECRET_KEYS])

    @pulumi.runtime.test
    def program() -> None:
        run()

    program()
    return {"version": 3, "deployment": {"resources": recorder.resources}}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("dev", "prod"):
        print("usage: python -m stacks.inventory dev|prod", file=sys.stderr)
        return 2
    json.dump(inventory(argv[0]), sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
