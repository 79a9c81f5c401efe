"""Typed stack configuration: ``Pulumi.<stack>.yaml`` → one validated, frozen ``StackConfig``.

Only this module reads stack config. Keys live in the ``affiliate-analytics`` namespace, one
structured object per component (``affiliate-analytics:kafka: {brokerCount: 3, ...}``). A bad
value fails before any resource is registered, with a message naming the file, the key path and
the allowed values, e.g.::

    Pulumi.prod.yaml: affiliate-analytics:kafka.instanceType: Input should be 'kafka.t3.small',
    ... or 'kafka.m7g.2xlarge' (got 'kafka.huge')

Secrets are not part of ``StackConfig``: they are read with ``Config.require_secret`` (see
``SECRET_KEYS``) and stay Pulumi secrets end to end. ``python -m stacks.config Pulumi.dev.yaml``
validates a stack file without the Pulumi CLI.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from infra.artifacts import ArtifactsConfig
from infra.cache import CacheConfig
from infra.catalog import CatalogConfig
from infra.cdn import CdnConfig
from infra.component import Settings
from infra.kafka import KafkaConfig
from infra.kubernetes import KubernetesConfig
from infra.lake import LakeConfig
from infra.network import NetworkConfig
from infra.observability import ObservabilityConfig
from infra.registry import RegistryConfig
from infra.state import StateConfig
from infra.streaming import StreamingConfig
from infra.tagging import TagsConfig
from infra.warehouse import WarehouseConfig
from infra.workloads import WorkloadsConfig

PROJECT = "affiliate-analytics"

SECRET_KEYS: dict[str, str] = {
    "ipHashSalt": "salt of the collector's truncated-IP hash (rotate by setting a new value)",
    "snowflakePrivateKey": "PEM private key of the Pulumi deployer's Snowflake user (provider auth)",
    "snowflakeTransformerPrivateKey": "PEM private key of the TRANSFORMER service user (dbt runner)",
    "snowflakeMonitorPrivateKey": "PEM private key of the MONITOR service user (quality monitor)",
    "snowflakeDashboardPrivateKey": "PEM private key of the DASHBOARD service user (BI_READER, explorer)",
}
# Secrets a stack needs only with some settings (the component that needs one says so if missing).
OPTIONAL_SECRET_KEYS: dict[str, str] = {
    "dashboardOidcClientSecret": "OIDC client secret of the dashboard's load balancer (workloads.dashboard.oidc)",
}


class StackConfig(Settings):
    """Everything a stack sets. Dev and prod differ only in these values."""

    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    protect_stateful_resources: bool = False
    schemas_dir: str = "schemas"
    topics_file: str = "schemas/topics.yaml"
    tags: TagsConfig
    network: NetworkConfig
    lake: LakeConfig
    kafka: KafkaConfig
    registry: RegistryConfig = RegistryConfig()
    cache: CacheConfig
    artifacts: ArtifactsConfig
    kubernetes: KubernetesConfig
    workloads: WorkloadsConfig
    streaming: StreamingConfig
    observability: ObservabilityConfig
    warehouse: WarehouseConfig
    cdn: CdnConfig
    catalog: CatalogConfig = CatalogConfig()
    state: StateConfig


class StackConfigError(ValueError):
    """One or more invalid settings; ``str()`` lists each with file and key."""


def _model_at(path: tuple[str | int, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = StackConfig
    for part in path:
        if model is None:
            return None
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        annotation = field.annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return model


def _describe(error: Any, file: str) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(p) for p in loc)
    where = f"{file}: {PROJECT}:{key}" if key else f"{file}: {PROJECT}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        if parent is not None:
            allowed = sorted(f.alias or n for n, f in parent.model_fields.items())
            message += f"; allowed keys: {', '.join(allowed)}"
    elif error["type"] != "missing":
        message += f" (got {json.dumps(error.get('input'), default=str)})"
    return f"{where}: {message}"


def parse(values: dict[str, Any], file: str) -> StackConfig:
    """Validate the project-namespace values (keys without the ``affiliate-analytics:`` prefix)."""
    try:
        return StackConfig.model_validate(values)
    except ValidationError as exc:
        lines = [_describe(e, file) for e in exc.errors()]
        raise StackConfigError("invalid stack configuration:\n  " + "\n  ".join(lines)) from None


def values_from_file(path: Path) -> dict[str, Any]:
    """The project's non-secret settings from a ``Pulumi.<stack>.yaml`` file."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    raw: dict[str, Any] = document.get("config") or {}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for full_key, value in raw.items():
        namespace, _, key = str(full_key).partition(":")
        if namespace != PROJECT:
            continue  # provider settings (aws:, snowflake:, ...) are the providers' business
        is_secure = isinstance(value, dict) and set(value) == {"secure"}
        if key in SECRET_KEYS or key in OPTIONAL_SECRET_KEYS:
            if not is_secure:
                problems.append(
                    f"{path.name}: {PROJECT}:{key}: must be a secret; "
                    f"set it with `pulumi config set --secret {key} ...`"
                )
            continue
        if is_secure:
            problems.append(
                f"{path.name}: {PROJECT}:{key}: is not a secret setting; allowed secrets: "
                f"{', '.join([*SECRET_KEYS, *OPTIONAL_SECRET_KEYS])}"
            )
            continue
        values[key] = value
    if problems:
        raise StackConfigError("invalid stack configuration:\n  " + "\n  ".join(problems))
    return values


def load_file(path: Path) -> StackConfig:
    return parse(values_from_file(path), path.name)


def stack_file(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def values_from_pulumi() -> dict[str, Any]:
    """The project's settings as the Pulumi engine passes them (structured values arrive as JSON)."""
    import pulumi

    values: dict[str, Any] = {}
    config = pulumi.Config(PROJECT)
    for name, field in StackConfig.model_fields.items():
        key = field.alias or name
        raw = config.get(key)
        if raw is None:
            continue
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


def secrets_from_pulumi() -> dict[str, Any]:
    """Every declared secret as a Pulumi secret Output; a missing required one fails naming its key,
    a missing optional one is simply absent."""
    import pulumi

    config = pulumi.Config(PROJECT)
    secrets: dict[str, Any] = {key: config.require_secret(key) for key in SECRET_KEYS}
    for key in OPTIONAL_SECRET_KEYS:
        value = config.get_secret(key)
        if value is not None:
            secrets[key] = value
    return secrets


def main(argv: list[str]) -> int:
    """``python -m stacks.config Pulumi.dev.yaml [...]``: validate stack files."""
    status = 0
    for arg in argv or ["Pulumi.dev.yaml", "Pulumi.prod.yaml"]:
        try:
            load_file(Path(arg))
            print(f"{arg}: ok")
        except StackConfigError as exc:
            print(exc, file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
