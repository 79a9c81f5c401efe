"""Backups of the platform's critical configuration, to the backup bucket, with a manifest.

    python -m pipelines.ops.backup export --stack dev [--bucket B] [--prefix backups/]
    python -m pipelines.ops.backup list --stack dev
    python -m pipelines.ops.backup verify --stack dev [--backup-id 20261125T020000Z]
    python -m pipelines.ops.backup restore --stack dev --out DIR [--backup-id ID] \\
        [--apply registry,topics,rules] [--registry-name NAME] [--replication-factor 3]

What one backup holds (``<prefix><stack>/<backup id>/``):

| file | from |
|---|---|
| ``registry.json`` | the Glue schema registry: every schema, its compatibility, every version's definition |
| ``topics.json`` | the live topic configs (partitions, replication, explicitly set configs) and ``schemas/topics.yaml`` |
| ``segmentation-rules.yaml`` | the segmentation rules file the stream runs |
| ``snowflake-governance.sql`` | ``GET_DDL`` of the governance objects (tags, masking policies in ``GOVERNANCE.POLICIES``, row access policies) — with a Snowflake connection only; otherwise a note in the manifest says it was skipped |
| ``pulumi/Pulumi.yaml``, ``pulumi/Pulumi.<stack>.yaml`` | the stack settings (secrets stay ciphertext) |
| ``pulumi/stack-export.json`` | ``pulumi stack export`` (Automation API) when the CLI and the backend are reachable; skipped with a note otherwise |
| ``manifest.json`` | written last: files with SHA-256 and size, what was skipped and why |

A backup without ``manifest.json`` is incomplete and ``verify`` says so. ``verify`` downloads every
file and checks its checksum; ``restore`` verifies first, writes the files to ``--out`` and with
``--apply`` puts them back: schema versions re-registered in version order into a (new) registry,
topics created/aligned from the backed-up configs, the rules file written. The bucket is
versioned and replicated (``infra/state.py``), and the job may not delete objects.

Environment: ``AA_BACKUP_BUCKET``, ``AA_AWS_ENDPOINT`` (moto locally), ``AA_GLUE_ENDPOINT``,
``AA_REGISTRY_NAME``, ``AA_KAFKA_BOOTSTRAP``, ``SNOWFLAKE_ACCOUNT``/``SNOWFLAKE_USER``/
``SNOWFLAKE_PRIVATE_KEY_PATH`` (optional).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.contracts.topics import TopicSpec, load_topics, topics_file

REPO = Path(__file__).resolve().parents[2]
RULES_FILE = REPO / "pipelines" / "segmentation" / "rules.yaml"
GOVERNANCE_SCHEMA = "GOVERNANCE.POLICIES"
PARTS = ("registry", "topics", "rules", "snowflake", "pulumi")


class BackupError(RuntimeError):
    pass


@dataclass
class Sources:
    """Where the configuration is read from; ``None`` skips that part with a note."""

    stack: str
    glue: Any = None
    registry_name: str = "affiliate-analytics"
    kafka_admin: Any = None
    topics_file: Path = field(default_factory=topics_file)
    rules_file: Path = RULES_FILE
    snowflake: Any = None  # a DB-API connection
    repo: Path = REPO
    pulumi_export: Callable[[str], dict[str, Any]] | None = None


def s3_client(endpoint_url: str | None = None) -> Any:
    from pipelines.aws import aws_client

    return aws_client("s3", endpoint_url or os.environ.get("AA_AWS_ENDPOINT") or None)


# ---------------------------------------------------------------- collecting


def schema_names(glue: Any, registry_name: str) -> tuple[list[str], str]:
    """The registry's schema names (ListSchemas) and where they came from. moto has no ListSchemas
    (it answers 500): then the repository's contracts name the schemas, and the backup says so."""
    from botocore.exceptions import ClientError

    from pipelines.contracts.schemas import load_contracts

    names: list[str] = []
    args: dict[str, Any] = {"RegistryId": {"RegistryName": registry_name}, "MaxResults": 100}
    try:
        while True:
            resp = glue.list_schemas(**args)
            names += [s["SchemaName"] for s in resp.get("Schemas", [])]
            if not resp.get("NextToken"):
                return sorted(names), "ListSchemas"
            args["NextToken"] = resp["NextToken"]
    except ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 500:
            raise
        return sorted(load_contracts()), "schemas/ (the endpoint has no ListSchemas)"


def export_registry(glue: Any, registry_name: str) -> dict[str, Any]:
    """Every schema of the registry with every version's definition (walked by version number)."""
    from botocore.exceptions import ClientError

    names, source = schema_names(glue, registry_name)
    schemas = []
    for name in names:
        sid = {"RegistryName": registry_name, "SchemaName": name}
        try:
            schema = glue.get_schema(SchemaId=sid)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "EntityNotFoundException":
                continue
            raise
        versions = []
        for number in range(1, int(schema.get("LatestSchemaVersion") or 1) + 1):
            try:
                full = glue.get_schema_version(SchemaId=sid, SchemaVersionNumber={"VersionNumber": number})
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "EntityNotFoundException":
                    continue  # a deleted version
                raise
            versions.append(
                {
                    "version_number": int(full["VersionNumber"]),
                    "version_id": full["SchemaVersionId"],
                    "status": full.get("Status"),
                    "definition": full["SchemaDefinition"],
                }
            )
        schemas.append(
            {
                "name": name,
                "data_format": schema.get("DataFormat", "AVRO"),
                "compatibility": schema.get("Compatibility", "BACKWARD"),
                "description": schema.get("Description", ""),
                "versions": versions,
            }
        )
    return {"registry_name": registry_name, "schema_names_from": source, "schemas": schemas}


def export_topics(admin: Any, declared: list[TopicSpec]) -> dict[str, Any]:
    from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

    md = admin.list_topics(timeout=30).topics
    names = sorted(n for n in md if not n.startswith("__"))
    live: dict[str, Any] = {}
    if names:
        futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, n) for n in names])
        for res, fut in futures.items():
            entries = fut.result(timeout=30)
            partitions = md[res.name].partitions
            live[res.name] = {
                "partitions": len(partitions),
                "replication_factor": len(next(iter(partitions.values())).replicas) if partitions else 0,
                "config": {
                    k: v.value
                    for k, v in sorted(entries.items())
                    if v.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and not v.is_sensitive
                },
            }
    return {"topics": live, "declared": [s.__dict__ for s in declared]}


def governance_ddl(conn: Any, schema: str = GOVERNANCE_SCHEMA) -> str:
    """``GET_DDL`` of every tag, masking policy and row access policy in the governance schema."""
    cur = conn.cursor()
    parts = [f"-- governance objects of {schema}, exported {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"]
    for kind, show, label in (
        ("TAG", "TAGS", "tag"),
        ("POLICY", "MASKING POLICIES", "masking policy"),
        ("POLICY", "ROW ACCESS POLICIES", "row access policy"),
    ):
        cur.execute(f"SHOW {show} IN SCHEMA {schema}")
        columns = [d[0].lower() for d in cur.description]
        for row in cur.fetchall():
            name = dict(zip(columns, row, strict=False))["name"]
            cur.execute(f"SELECT GET_DDL('{kind}', '{schema}.{name}', TRUE)")
            fetched = cur.fetchone()
            parts.append(f"-- {label} {schema}.{name}\n{fetched[0] if fetched else ''};")
    return "\n\n".join(parts) + "\n"


def collect(src: Sources) -> tuple[dict[str, bytes], dict[str, str]]:
    """The files of one backup and the parts skipped (with why)."""
    files: dict[str, bytes] = {}
    skipped: dict[str, str] = {}
    if src.glue is not None:
        files["registry.json"] = _json(export_registry(src.glue, src.registry_name))
    else:
        skipped["registry"] = "no Glue endpoint given"
    if src.kafka_admin is not None:
        files["topics.json"] = _json(export_topics(src.kafka_admin, load_topics(src.topics_file)))
    else:
        skipped["topics"] = "no Kafka bootstrap given"
    files["topics.yaml"] = src.topics_file.read_bytes()
    files["segmentation-rules.yaml"] = src.rules_file.read_bytes()
    if src.snowflake is not None:
        files["snowflake-governance.sql"] = governance_ddl(src.snowflake).encode()
    else:
        skipped["snowflake"] = (
            "no Snowflake connection (SNOWFLAKE_ACCOUNT unset): governance DDL not exported; the objects are "
            "defined in infra/warehouse.py and recreated by `pulumi up`"
        )
    for name in ("Pulumi.yaml", f"Pulumi.{src.stack}.yaml"):
        path = src.repo / name
        if not path.is_file():
            raise BackupError(f"{path}: stack settings file not found (is --stack {src.stack!r} right?)")
        files[f"pulumi/{name}"] = path.read_bytes()
    if src.pulumi_export is not None:
        try:
            files["pulumi/stack-export.json"] = _json(src.pulumi_export(src.stack))
        except Exception as exc:
            skipped["pulumi-state"] = f"pulumi stack export failed: {str(exc).splitlines()[0][:300]}"
    else:
        skipped["pulumi-state"] = "pulumi CLI not available: state not exported (the state bucket is versioned)"
    return files, skipped


def _json(doc: Any) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n").encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- bucket


def backup_prefix(prefix: str, stack: str) -> str:
    return f"{prefix}{stack}/"


def export(s3: Any, bucket: str, prefix: str, src: Sources, backup_id: str | None = None) -> dict[str, Any]:
    """Write one backup; the manifest goes last. Returns the manifest."""
    backup_id = backup_id or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = f"{backup_prefix(prefix, src.stack)}{backup_id}/"
    files, skipped = collect(src)
    entries = {}
    for name, data in sorted(files.items()):
        s3.put_object(Bucket=bucket, Key=base + name, Body=data)
        entries[name] = {"key": base + name, "sha256": sha256(data), "bytes": len(data)}
    manifest = {
        "backup_id": backup_id,
        "stack": src.stack,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": entries,
        "skipped": skipped,
        "format": 1,
    }
    s3.put_object(Bucket=bucket, Key=base + "manifest.json", Body=_json(manifest))
    return manifest


def list_backups(s3: Any, bucket: str, prefix: str, stack: str) -> list[str]:
    """Backup ids with a manifest, oldest first."""
    ids = []
    args: dict[str, Any] = {"Bucket": bucket, "Prefix": backup_prefix(prefix, stack)}
    while True:
        resp = s3.list_objects_v2(**args)
        for obj in resp.get("Contents", []):
            if obj["Key"].endswith("/manifest.json"):
                ids.append(obj["Key"].split("/")[-2])
        if not resp.get("IsTruncated"):
            break
        args["ContinuationToken"] = resp["NextContinuationToken"]
    return sorted(ids)


def load_manifest(s3: Any, bucket: str, prefix: str, stack: str, backup_id: str | None) -> dict[str, Any]:
    ids = list_backups(s3, bucket, prefix, stack)
    if backup_id is None:
        if not ids:
            raise BackupError(f"s3://{bucket}/{backup_prefix(prefix, stack)}: no complete backup (no manifest.json)")
        backup_id = ids[-1]
    elif backup_id not in ids:
        raise BackupError(
            f"backup {backup_id} of stack {stack} has no manifest.json in s3://{bucket} (incomplete or unknown); "
            f"complete backups: {', '.join(ids[-5:]) or 'none'}"
        )
    key = f"{backup_prefix(prefix, stack)}{backup_id}/manifest.json"
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def verify(s3: Any, bucket: str, manifest: dict[str, Any]) -> tuple[dict[str, bytes], list[str]]:
    """Download every file of the manifest; problems name the file and what is wrong."""
    from botocore.exceptions import ClientError

    files: dict[str, bytes] = {}
    problems: list[str] = []
    for name, entry in sorted(manifest["files"].items()):
        try:
            data = s3.get_object(Bucket=bucket, Key=entry["key"])["Body"].read()
        except ClientError as exc:
            problems.append(f"{name}: cannot be read ({exc.response.get('Error', {}).get('Code')})")
            continue
        if sha256(data) != entry["sha256"] or len(data) != entry["bytes"]:
            problems.append(
                f"{name}: checksum mismatch (sha256 {sha256(data)[:12]}…, manifest {entry['sha256'][:12]}…)"
            )
            continue
        files[name] = data
    return files, problems


# ---------------------------------------------------------------- restore


def restore_registry(glue: Any, doc: dict[str, Any], registry_name: str) -> dict[str, int]:
    """Re-register every schema's versions in version order into ``registry_name`` (created if
    missing); a definition the registry already has is a no-op. Returns versions per schema."""
    from botocore.exceptions import ClientError

    try:
        glue.get_registry(RegistryId={"RegistryName": registry_name})
    except ClientError:
        glue.create_registry(RegistryName=registry_name, Description=f"restored from backup of {doc['registry_name']}")
    out = {}
    for schema in doc["schemas"]:
        sid = {"RegistryName": registry_name, "SchemaName": schema["name"]}
        versions = [v for v in schema["versions"] if v.get("status") in (None, "AVAILABLE")]
        for i, version in enumerate(versions):
            try:
                glue.get_schema_by_definition(SchemaId=sid, SchemaDefinition=version["definition"])
                continue
            except ClientError:
                pass
            if i == 0:
                try:
                    glue.get_schema(SchemaId=sid)
                    exists = True
                except ClientError:
                    exists = False
                if not exists:
                    glue.create_schema(
                        RegistryId={"RegistryName": registry_name},
                        SchemaName=schema["name"],
                        DataFormat=schema["data_format"],
                        Compatibility=schema["compatibility"],
                        SchemaDefinition=version["definition"],
                        Description=schema.get("description", "")[:2048],
                    )
                    continue
            glue.register_schema_version(SchemaId=sid, SchemaDefinition=version["definition"])
        out[schema["name"]] = len(versions)
    return out


def restore_topics(admin: Any, doc: dict[str, Any], replication_factor: int, prefix: str = "") -> dict[str, Any]:
    """Create or align the backed-up topics (partitions and explicitly set configs)."""
    from pipelines.contracts.topics import sync_topics

    declared = {d["name"]: d for d in doc["declared"]}
    specs = []
    for name, live in sorted(doc["topics"].items()):
        config = {k: v for k, v in live["config"].items() if k != "min.insync.replicas"}
        event_type = declared.get(name, {}).get("event_type", "")
        key = declared.get(name, {}).get("key", "session_id")
        specs.append(TopicSpec(f"{prefix}{name}", event_type, int(live["partitions"]), key, config))
    return sync_topics(admin, specs, replication_factor=replication_factor).as_dict()


# ---------------------------------------------------------------- CLI


def _snowflake_connection() -> Any:
    if not os.environ.get("SNOWFLAKE_ACCOUNT"):
        return None
    import snowflake.connector
    from cryptography.hazmat.primitives import serialization

    key_path = os.environ["SNOWFLAKE_PRIVATE_KEY_PATH"]
    passphrase = os.environ.get("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE")
    key = serialization.load_pem_private_key(
        Path(key_path).read_bytes(), password=passphrase.encode() if passphrase else None
    )
    return snowflake.connector.connect(
        account=os.environ["SNOWFLAKE_ACCOUNT"],
        user=os.environ["SNOWFLAKE_USER"],
        private_key=key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        role=os.environ.get("SNOWFLAKE_ROLE", "SECURITYADMIN"),
    )


def kafka_config(extra_json: str | None) -> dict[str, Any]:
    """The platform's Kafka authentication (``AA_KAFKA_AUTH``: MSK IAM in the cloud) plus ``--client-config``."""
    from pipelines import kafka_auth

    return {**kafka_auth.client_config(), **(json.loads(extra_json) if extra_json else {})}


def _pulumi_export() -> Callable[[str], dict[str, Any]] | None:
    if shutil.which("pulumi") is None:
        return None

    def run(stack: str) -> dict[str, Any]:
        from pulumi import automation as auto

        workspace = auto.LocalWorkspace(work_dir=str(REPO))
        deployment = workspace.export_stack(stack)
        return {"version": deployment.version, "deployment": deployment.deployment}

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.ops.backup", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack", required=True, choices=["dev", "prod"])
    common.add_argument("--bucket", default=os.environ.get("AA_BACKUP_BUCKET"))
    common.add_argument("--prefix", default="backups/")
    common.add_argument("--endpoint-url", default=None, help="S3 endpoint (moto locally); default AA_AWS_ENDPOINT")
    ex = sub.add_parser("export", parents=[common], help="write a backup to the bucket")
    ex.add_argument("--glue-endpoint", default=os.environ.get("AA_GLUE_ENDPOINT"))
    ex.add_argument(
        "--registry-name",
        default=os.environ.get("AA_REGISTRY_NAME") or os.environ.get("AA_SCHEMA_REGISTRY", "affiliate-analytics"),
    )
    ex.add_argument("--bootstrap-servers", default=os.environ.get("AA_KAFKA_BOOTSTRAP"))
    ex.add_argument("--client-config", default=None, help="JSON of extra librdkafka settings (MSK)")
    ex.add_argument("--rules-file", type=Path, default=RULES_FILE)
    sub.add_parser("list", parents=[common], help="list complete backups")
    ve = sub.add_parser("verify", parents=[common], help="check every file of a backup against its manifest")
    ve.add_argument("--backup-id", default=None, help="default: the newest complete backup")
    re_ = sub.add_parser("restore", parents=[common], help="verify, download and optionally apply a backup")
    re_.add_argument("--backup-id", default=None)
    re_.add_argument("--out", type=Path, required=True)
    re_.add_argument("--apply", default="", help="comma list of registry, topics, rules")
    re_.add_argument("--glue-endpoint", default=os.environ.get("AA_GLUE_ENDPOINT"))
    re_.add_argument(
        "--registry-name",
        default=os.environ.get("AA_REGISTRY_NAME") or os.environ.get("AA_SCHEMA_REGISTRY", "affiliate-analytics"),
    )
    re_.add_argument("--bootstrap-servers", default=os.environ.get("AA_KAFKA_BOOTSTRAP"))
    re_.add_argument("--client-config", default=None)
    re_.add_argument("--replication-factor", type=int, default=1)
    re_.add_argument("--rules-file", type=Path, default=RULES_FILE)
    args = parser.parse_args(argv)
    if not args.bucket:
        print("error: --bucket (or AA_BACKUP_BUCKET) is required", file=sys.stderr)
        return 2
    s3 = s3_client(args.endpoint_url)
    try:
        if args.command == "export":
            from pipelines.contracts.registry import glue_client
            from pipelines.contracts.topics import admin_client

            extra = kafka_config(args.client_config)
            src = Sources(
                stack=args.stack,
                glue=glue_client(args.glue_endpoint),
                registry_name=args.registry_name,
                kafka_admin=admin_client(args.bootstrap_servers, extra) if args.bootstrap_servers else None,
                rules_file=args.rules_file,
                snowflake=_snowflake_connection(),
                pulumi_export=_pulumi_export(),
            )
            manifest = export(s3, args.bucket, args.prefix, src)
            print(json.dumps({"event": "backup_exported", "bucket": args.bucket, **_summary(manifest)}))
            return 0
        if args.command == "list":
            for backup_id in list_backups(s3, args.bucket, args.prefix, args.stack):
                print(backup_id)
            return 0
        manifest = load_manifest(s3, args.bucket, args.prefix, args.stack, args.backup_id)
        files, problems = verify(s3, args.bucket, manifest)
        for p in problems:
            print(f"backup {manifest['backup_id']}: {p}", file=sys.stderr)
        if args.command == "verify":
            print(json.dumps({"event": "backup_verified", "ok": not problems, **_summary(manifest)}))
            return 1 if problems else 0
        if problems:
            print("error: the backup does not verify; nothing restored", file=sys.stderr)
            return 1
        return _restore(args, manifest, files)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _restore(args: argparse.Namespace, manifest: dict[str, Any], files: dict[str, bytes]) -> int:
    applied: dict[str, Any] = {}
    wanted = [a for a in args.apply.split(",") if a]
    unknown = sorted(set(wanted) - {"registry", "topics", "rules"})
    if unknown:
        print(f"error: --apply {', '.join(unknown)}: allowed registry, topics, rules", file=sys.stderr)
        return 2
    for name, data in files.items():
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if "registry" in wanted:
        from pipelines.contracts.registry import glue_client

        doc = json.loads(files["registry.json"])
        applied["registry"] = restore_registry(glue_client(args.glue_endpoint), doc, args.registry_name)
    if "topics" in wanted:
        from pipelines.contracts.topics import admin_client

        extra = kafka_config(args.client_config)
        doc = json.loads(files["topics.json"])
        applied["topics"] = restore_topics(admin_client(args.bootstrap_servers, extra), doc, args.replication_factor)
    if "rules" in wanted:
        args.rules_file.write_bytes(files["segmentation-rules.yaml"])
        applied["rules"] = str(args.rules_file)
    print(json.dumps({"event": "backup_restored", "out": str(args.out), "applied": applied, **_summary(manifest)}))
    return 0


def _summary(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "backup_id": manifest["backup_id"],
        "stack": manifest["stack"],
        "files": sorted(manifest["files"]),
        "skipped": manifest["skipped"],
    }


if __name__ == "__main__":
    raise SystemExit(main())
