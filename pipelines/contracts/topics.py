"""Kafka topics, declared once in ``schemas/topics.yaml`` and applied by one idempotent command.

    python -m pipelines.contracts.topics sync --bootstrap-servers 127.0.0.1:19092 --replication-factor 1

Creates missing topics, aligns drifted configs (only the keys we declare, with incremental
alter), adds partitions when the declaration grew, and reports a topic that has more partitions
than declared (Kafka cannot shrink). Running it twice changes nothing the second time. The same
command runs as a Kubernetes Job on every cloud deploy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from pipelines.contracts.schemas import load_contracts, schemas_dir

_ALLOWED_TOPIC_KEYS = {"event_type", "partitions", "config", "key"}


class TopicConfigError(ValueError):
    pass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    event_type: str
    partitions: int
    key: str
    config: dict[str, str]


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    altered: dict[str, dict[str, tuple[str | None, str]]] = field(default_factory=dict)
    partitions_added: dict[str, tuple[int, int]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.altered or self.partitions_added)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "altered": {t: {k: list(v) for k, v in c.items()} for t, c in self.altered.items()},
            "partitions_added": {t: list(v) for t, v in self.partitions_added.items()},
            "unchanged": self.unchanged,
            "warnings": self.warnings,
        }


def topics_file() -> Path:
    return schemas_dir() / "topics.yaml"


def load_topics(path: Path | None = None) -> list[TopicSpec]:
    """Parse topics.yaml; errors name the file, the key and the allowed values."""
    path = path or topics_file()
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("topics"), dict):
        raise TopicConfigError(f"{path}: expected a mapping with a 'topics' mapping")
    defaults = doc.get("defaults") or {}
    default_key = str(doc.get("key", "session_id"))
    known_types = set(load_contracts(path.parent))
    specs: list[TopicSpec] = []
    for name, body in doc["topics"].items():
        body = body or {}
        unknown = set(body) - _ALLOWED_TOPIC_KEYS
        if unknown:
            raise TopicConfigError(
                f"{path}: topics.{name}: unknown key(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(_ALLOWED_TOPIC_KEYS))}"
            )
        event_type = body.get("event_type")
        if event_type not in known_types:
            raise TopicConfigError(
                f"{path}: topics.{name}.event_type is {event_type!r}; allowed: {', '.join(sorted(known_types))}"
            )
        partitions = body.get("partitions", defaults.get("partitions", 1))
        if not isinstance(partitions, int) or partitions < 1:
            raise TopicConfigError(f"{path}: topics.{name}.partitions must be a positive integer, got {partitions!r}")
        config = {str(k): str(v) for k, v in {**defaults.get("config", {}), **body.get("config", {})}.items()}
        specs.append(TopicSpec(name, event_type, partitions, str(body.get("key", default_key)), config))
    return specs


def topic_for(event_type: str, specs: list[TopicSpec] | None = None) -> str:
    for spec in specs or load_topics():
        if spec.event_type == event_type:
            return spec.name
    raise KeyError(event_type)


def admin_client(bootstrap_servers: str, extra: dict[str, str] | None = None) -> AdminClient:
    from pipelines import kafka_auth

    return AdminClient({"bootstrap.servers": bootstrap_servers, **kafka_auth.client_config(), **(extra or {})})


def _result(future: Any, what: str) -> Any:
    try:
        return future.result(timeout=30)
    except KafkaException as exc:
        raise RuntimeError(f"{what}: {exc.args[0]}") from exc


def sync_topics(
    admin: AdminClient,
    specs: list[TopicSpec],
    replication_factor: int,
    min_insync_replicas: int | None = None,
) -> SyncReport:
    report = SyncReport()
    wanted = {s.name: s for s in specs}
    min_isr = str(min_insync_replicas if min_insync_replicas is not None else max(1, replication_factor - 1))
    desired_config = {name: {**s.config, "min.insync.replicas": min_isr} for name, s in wanted.items()}
    existing = admin.list_topics(timeout=30).topics

    missing = [n for n in wanted if n not in existing]
    if missing:
        futures = admin.create_topics(
            [NewTopic(n, wanted[n].partitions, replication_factor, config=desired_config[n]) for n in missing],
            operation_timeout=30,
        )
        for name, fut in futures.items():
            _result(fut, f"create topic {name}")
            report.created.append(name)

    present = [n for n in wanted if n in existing]
    for name in present:
        have = len(existing[name].partitions)
        want = wanted[name].partitions
        if have < want:
            _result(admin.create_partitions([NewPartitions(name, want)])[name], f"add partitions to {name}")
            report.partitions_added[name] = (have, want)
        elif have > want:
            report.warnings.append(f"{name} has {have} partitions, {want} declared; Kafka cannot shrink a topic")

    if present:
        resources = [ConfigResource(ResourceType.TOPIC, n) for n in present]
        described = admin.describe_configs(resources)
        for res, fut in described.items():
            name = res.name
            current = {k: v.value for k, v in _result(fut, f"describe configs of {name}").items()}
            drift = {k: (current.get(k), v) for k, v in desired_config[name].items() if current.get(k) != v}
            if drift:
                alter = ConfigResource(
                    ResourceType.TOPIC,
                    name,
                    incremental_configs=[
                        ConfigEntry(k, new, incremental_operation=AlterConfigOpType.SET)
                        for k, (_, new) in drift.items()
                    ],
                )
                for fut2 in admin.incremental_alter_configs([alter]).values():
                    _result(fut2, f"alter configs of {name}")
                report.altered[name] = drift
            elif name not in report.partitions_added:
                report.unchanged.append(name)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.contracts.topics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sync = sub.add_parser("sync", help="create missing topics and align configs (idempotent)")
    sync.add_argument("--bootstrap-servers", default=os.environ.get("AA_KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    sync.add_argument("--replication-factor", type=int, default=1)
    sync.add_argument("--min-insync-replicas", type=int, default=None)
    sync.add_argument("--topics-file", type=Path, default=None)
    sync.add_argument(
        "--client-config", default=None, help="JSON object of extra librdkafka settings, e.g. security.protocol for MSK"
    )
    sub.add_parser("list", help="print the declared topics as JSON")
    args = parser.parse_args(argv)
    if args.command == "list":
        json.dump([s.__dict__ for s in load_topics()], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    specs = load_topics(args.topics_file)
    extra = json.loads(args.client_config) if args.client_config else None
    report = sync_topics(
        admin_client(args.bootstrap_servers, extra), specs, args.replication_factor, args.min_insync_replicas
    )
    print(json.dumps({"event": "topics_synced", **report.as_dict()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
