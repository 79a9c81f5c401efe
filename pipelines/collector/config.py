"""Collector configuration: a YAML file (``AA_COLLECTOR_CONFIG``) overlaid by ``AA_COLLECTOR_<KEY>``
environment variables, validated with pydantic.

Secrets (the IP salt, the redirect signing key, postback secrets) come from the environment or
from files named by ``*_file`` keys, never from git. A bad value fails at start with one line per
problem naming the key, where it came from and what is allowed, e.g.::

    AA_COLLECTOR_MAX_EVENTS (environment): Input should be greater than or equal to 1, got '0'
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

ENV_PREFIX = "AA_COLLECTOR_"
FILE_ENV = "AA_COLLECTOR_CONFIG"


class ConfigError(ValueError):
    """Invalid collector configuration; the message has one line per problem."""


class DomainRule(BaseModel):
    """A merchant domain the redirect may send visitors to."""

    model_config = ConfigDict(extra="forbid")
    subid_param: str | None = Field(
        default=None, description="Query parameter that carries our click id to the merchant (e.g. 'ascsubtag')."
    )


class Network(BaseModel):
    """An affiliate network allowed to send conversion postbacks."""

    model_config = ConfigDict(extra="forbid")
    secret: SecretStr = Field(min_length=16, description="HMAC-SHA256 key shared with the network.")


class CollectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- HTTP
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=262_144, ge=1024, le=8_388_608)
    max_events: int = Field(default=200, ge=1, le=10_000)
    allowed_origins: list[str] = Field(default_factory=list, description="Site origins allowed by CORS.")
    fast_path: bool = Field(
        default=True, description="Decode valid batches in one msgspec pass; false forces the per-event path."
    )
    client_ip_header: Literal["none", "cloudfront-viewer-address", "x-forwarded-for"] = "none"
    # --- privacy
    ip_salt: SecretStr | None = None
    ip_salt_file: Path | None = None
    # --- Kafka
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_client_config: dict[str, str] = Field(default_factory=dict, description="Extra librdkafka settings.")
    topic_prefix: str = ""
    delivery_timeout_ms: int = Field(default=5000, ge=100, le=300_000)
    linger_ms: int = Field(default=2, ge=0, le=1000)
    compression: Literal["none", "zstd", "lz4", "snappy", "gzip"] = "zstd"
    # --- schema registry
    registry_name: str = "affiliate-analytics"
    glue_endpoint: str | None = None
    # --- journal (spill)
    journal_dir: Path = Path(".local/collector-journal")
    journal_max_bytes: int = Field(default=256 * 1024 * 1024, ge=4096)
    journal_segment_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    retry_after_s: int = Field(default=30, ge=1, le=3600)
    probe_interval_s: float = Field(default=1.0, gt=0, le=60)
    drain_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # --- data-quality ledger (pipelines/collector/ledger.py): per-minute counts flushed to Redis; off when unset
    ledger_redis_url: SecretStr | None = None
    ledger_redis_prefix: str = Field(default="aa", pattern=r"^[A-Za-z0-9_.-]+$")
    ledger_flush_interval_s: float = Field(default=1.0, gt=0, le=60)
    # --- redirect and postbacks
    redirect_domains: dict[str, DomainRule] = Field(default_factory=dict)
    redirect_signing_key: SecretStr | None = None
    redirect_signing_key_file: Path | None = None
    postback_networks: dict[str, Network] = Field(default_factory=dict)
    # --- logs
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        for origin in v:
            if not origin.startswith(("https://", "http://")) or origin.endswith("/"):
                raise ValueError(f"origin {origin!r} must look like 'https://example.com' (scheme, host, no slash)")
        return v

    @field_validator("redirect_domains")
    @classmethod
    def _domains(cls, v: dict[str, DomainRule]) -> dict[str, DomainRule]:
        for domain in v:
            if not domain or domain != domain.lower() or "/" in domain or domain.startswith((".", "*")):
                raise ValueError(f"domain {domain!r} must be a lower-case registrable domain like 'amazon.com'")
        return v

    @model_validator(mode="after")
    def _secrets(self) -> CollectorConfig:
        salt = self.salt()
        if len(salt) < 16:
            raise ValueError("ip_salt (or ip_salt_file) is required: a secret of at least 16 bytes")
        key = self.signing_key()
        if key is not None and len(key) < 16:
            raise ValueError("redirect_signing_key must be at least 16 bytes")
        return self

    def salt(self) -> bytes:
        if self.ip_salt is not None:
            return self.ip_salt.get_secret_value().encode()
        if self.ip_salt_file is not None:
            return _read_secret(self.ip_salt_file, "ip_salt_file")
        return b""

    def signing_key(self) -> bytes | None:
        if self.redirect_signing_key is not None:
            return self.redirect_signing_key.get_secret_value().encode()
        if self.redirect_signing_key_file is not None:
            return _read_secret(self.redirect_signing_key_file, "redirect_signing_key_file")
        return None

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


def _read_secret(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes().strip()
    except OSError as exc:
        raise ValueError(f"{key}: cannot read {path}: {exc.strerror}") from exc


_COMPLEX = {"allowed_origins", "kafka_client_config", "redirect_domains", "postback_networks"}


def _from_env(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == FILE_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key in _COMPLEX:
            try:
                values[key] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{name} (environment): expected JSON, {exc.msg} at column {exc.colno}") from None
        else:
            values[key] = raw
        sources[key] = f"{name} (environment)"
    return values, sources


def load_config(env: Mapping[str, str] | None = None, file: Path | None = None) -> CollectorConfig:
    """Build the configuration from the file (if any) and the environment; environment wins."""
    env = os.environ if env is None else env
    path = file or (Path(env[FILE_ENV]) if env.get(FILE_ENV) else None)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if path is not None:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read the collector config: {exc}") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"{path}: expected a mapping of collector settings")
        values.update(doc)
        sources.update({str(k): str(path) for k in doc})
    env_values, env_sources = _from_env(env)
    values.update(env_values)
    sources.update(env_sources)
    try:
        return CollectorConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, sources)) from None


def _explain(exc: ValidationError, sources: Mapping[str, str]) -> str:
    allowed = set(CollectorConfig.model_fields)
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        top = loc[0] if loc else ""
        where = sources.get(top, "default")
        key = ".".join(loc) or "(config)"
        if where.endswith("(environment)"):
            key, where = where.removesuffix(" (environment)"), "environment"
            if len(loc) > 1:
                key += " → " + ".".join(loc[1:])
        msg = err["msg"]
        if err["type"] == "extra_forbidden" and len(loc) == 1:
            msg = f"unknown key; allowed keys: {', '.join(sorted(allowed))}"
        elif (
            "input" in err
            and err["type"] not in ("missing", "value_error")
            and not isinstance(err["input"], dict)
            and not any(s in key for s in ("secret", "salt", "signing"))  # never echo a secret
        ):
            msg += f", got {err['input']!r}"
        lines.append(f"{key} ({where}): {msg}")
    return "invalid collector configuration:\n  " + "\n  ".join(lines)


def local_salt_file(directory: Path) -> Path:
    """A random IP-hash salt in ``directory/ip-salt.secret`` (mode 0600), created once: for local
    runs (demo, drills); the cloud's salt is a Pulumi secret."""
    import secrets

    salt = directory / "ip-salt.secret"
    if not salt.exists():
        salt.write_text(secrets.token_hex(32))
        salt.chmod(0o600)
    return salt
