"""Dashboard configuration: command-line flags overlaid on ``AA_DASHBOARD_<KEY>`` environment
variables, validated with pydantic. A bad value fails at start with one line per problem that
names the flag (or variable) and what is allowed, e.g.::

    --port (command line): Input should be less than or equal to 65535, got '70000'

Locally the dashboard reads a DuckDB file read-only and listens on loopback only; in the cloud it
reads Snowflake with the read-only BI role (``AA_DASHBOARD_SNOWFLAKE_*``, secrets from the
environment or a mounted file) behind the load balancer's OIDC authentication.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

ENV_PREFIX = "AA_DASHBOARD_"


class ConfigError(ValueError):
    """Invalid dashboard configuration; the message has one line per problem."""


class SnowflakeConfig(BaseModel):
    """Read-only BI connection (role BI_READER sees REPORTING only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    account: str = Field(min_length=1)
    user: str = Field(min_length=1)
    private_key_path: Path | None = None
    password: SecretStr | None = None
    role: str = "BI_READER"
    warehouse: str = "REPORTING_WH"
    database: str = "REPORTING"

    @model_validator(mode="after")
    def _auth(self) -> SnowflakeConfig:
        if self.private_key_path is None and self.password is None:
            raise ValueError("snowflake_private_key_path (or snowflake_password) is required for the BI connection")
        return self


class DashboardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=1, le=65535)
    allow_remote: bool = Field(default=False, description="Listen on a non-loopback address (cloud, behind the ALB).")
    # --- real time (Redis, read only)
    redis_url: str = Field(default="redis://127.0.0.1:16379/0", pattern=r"^rediss?://")
    redis_prefix: str = Field(default="aa", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    push_interval_s: float = Field(default=3.0, ge=0.2, le=60)
    stale_after_s: int = Field(default=300, ge=10, le=86_400)
    window_minutes: int = Field(default=60, ge=5, le=24 * 60)
    # --- explorer (warehouse, read only)
    backend: Literal["duckdb", "snowflake"] = "duckdb"
    warehouse: Path = Path(".local/warehouse.duckdb")
    table: str = Field(
        default="self_service.explorer_daily", pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$"
    )
    max_days: int = Field(default=400, ge=1, le=3660)
    max_rows: int = Field(default=200, ge=1, le=10_000)
    snowflake: SnowflakeConfig | None = None
    # --- logs
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @model_validator(mode="after")
    def _checks(self) -> DashboardConfig:
        if not self.allow_remote and not _is_loopback(self.host):
            raise ValueError(f"host {self.host!r} is not a loopback address; set allow_remote to listen on it")
        if self.backend == "snowflake" and self.snowflake is None:
            raise ValueError(
                "backend 'snowflake' needs AA_DASHBOARD_SNOWFLAKE_ACCOUNT and _USER (and a key or password)"
            )
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


FLAGS = {
    "host": "--host",
    "port": "--port",
    "allow_remote": "--allow-remote",
    "redis_url": "--redis-url",
    "redis_prefix": "--redis-prefix",
    "push_interval_s": "--push-interval",
    "stale_after_s": "--stale-after",
    "window_minutes": "--window-minutes",
    "backend": "--backend",
    "warehouse": "--warehouse",
    "table": "--table",
    "max_days": "--max-days",
    "max_rows": "--max-rows",
    "log_level": "--log-level",
}


def load_config(args: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> DashboardConfig:
    """Flags (``None`` = not given) win over ``AA_DASHBOARD_<KEY>`` variables, which win over defaults."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    snowflake: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key.startswith("snowflake_"):
            snowflake[key.removeprefix("snowflake_")] = raw
            sources["snowflake"] = f"{ENV_PREFIX}SNOWFLAKE_* (environment)"
        else:
            values[key] = raw
            sources[key] = f"{name} (environment)"
    for key, value in (args or {}).items():
        if value is not None:
            values[key] = value
            sources[key] = f"{FLAGS.get(key, key)} (command line)"
    if snowflake:
        values["snowflake"] = snowflake
    try:
        return DashboardConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, sources)) from None


def _explain(exc: ValidationError, sources: Mapping[str, str]) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        top = loc[0] if loc else ""
        where = sources.get(top, "default")
        key = ".".join(loc) or "(config)"
        msg = err["msg"].removeprefix("Value error, ")
        if where.endswith("(environment)") or where.endswith("(command line)"):
            name, _, kind = where.partition(" (")
            key, where = (
                (name if top != "snowflake" else f"{ENV_PREFIX}SNOWFLAKE_{'_'.join(loc[1:]).upper()}"),
                kind[:-1],
            )
        if err["type"] == "extra_forbidden" and len(loc) == 1:
            msg = f"unknown key; allowed keys: {', '.join(sorted(DashboardConfig.model_fields))}"
        elif (
            "input" in err
            and err["type"] not in ("missing", "value_error")
            and not isinstance(err["input"], dict)
            and "password" not in key.lower()
        ):
            msg += f", got {err['input']!r}"
        lines.append(f"{key} ({where}): {msg}")
    return "invalid dashboard configuration:\n  " + "\n  ".join(lines)
