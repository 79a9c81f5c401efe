"""Configuration backups: export to the bucket (moto S3), verify the manifest, restore into a new
registry and a new set of topics, and the Snowflake governance DDL from a fake connection."""

from __future__ import annotations

import json
import uuid

import pytest

from pipelines.contracts.registry import GlueSchemaRegistry
from pipelines.contracts.topics import admin_client
from pipelines.ops import backup
from tests.pipelines.collector.conftest import sync_namespaced_topics

pytestmark = pytest.mark.engines


@pytest.fixture
def bucket(local_engines, namespace):
    s3 = backup.s3_client(local_engines.moto_url)
    name = f"backups-{namespace}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return s3, name


def _sources(local_engines, glue, namespace, **kw) -> backup.Sources:
    GlueSchemaRegistry(glue, f"reg-{namespace}").register_all()
    sync_namespaced_topics(local_engines.kafka_bootstrap, namespace)
    return backup.Sources(
        stack="dev",
        glue=glue,
        registry_name=f"reg-{namespace}",
        kafka_admin=admin_client(local_engines.kafka_bootstrap),
        **kw,
    )


def test_export_writes_every_part_with_a_manifest_and_verify_checks_each_checksum(
    local_engines, glue, namespace, bucket
):
    s3, name = bucket
    manifest = backup.export(s3, name, "backups/", _sources(local_engines, glue, namespace), backup_id="b1")
    assert sorted(manifest["files"]) == [
        "pulumi/Pulumi.dev.yaml",
        "pulumi/Pulumi.yaml",
        "registry.json",
        "segmentation-rules.yaml",
        "topics.json",
        "topics.yaml",
    ]
    assert set(manifest["skipped"]) == {"snowflake", "pulumi-state"}
    assert "SNOWFLAKE_ACCOUNT unset" in manifest["skipped"]["snowflake"]
    assert backup.list_backups(s3, name, "backups/", "dev") == ["b1"]

    files, problems = backup.verify(s3, name, backup.load_manifest(s3, name, "backups/", "dev", None))
    assert problems == []
    registry = json.loads(files["registry.json"])
    assert {s["name"] for s in registry["schemas"]} == {
        "affiliate_click", "chart_interaction", "conversion", "dead_letter", "page_view", "product_impression"
    }  # fmt: skip
    assert all(s["compatibility"] == "BACKWARD" and len(s["versions"]) == 1 for s in registry["schemas"])
    topics = json.loads(files["topics.json"])["topics"]
    assert topics[f"{namespace}.events.conversion"]["partitions"] == 1
    assert topics[f"{namespace}.events.affiliate_click"]["config"]["retention.ms"] == "1209600000"

    # a file changed after the backup is caught, naming the file
    s3.put_object(Bucket=name, Key="backups/dev/b1/topics.json", Body=b"{}")
    _, problems = backup.verify(s3, name, backup.load_manifest(s3, name, "backups/", "dev", "b1"))
    assert problems == [problems[0]]
    assert problems[0].startswith("topics.json: checksum mismatch")


def test_a_backup_without_its_manifest_is_incomplete(local_engines, glue, namespace, bucket):
    s3, name = bucket
    s3.put_object(Bucket=name, Key="backups/dev/b0/registry.json", Body=b"{}")
    with pytest.raises(backup.BackupError, match="no complete backup"):
        backup.load_manifest(s3, name, "backups/", "dev", None)
    with pytest.raises(backup.BackupError, match=r"b0 of stack dev has no manifest\.json"):
        backup.load_manifest(s3, name, "backups/", "dev", "b0")


def test_restore_puts_the_registry_and_the_topics_back_into_an_empty_region(local_engines, glue, namespace, bucket):
    s3, name = bucket
    backup.export(s3, name, "backups/", _sources(local_engines, glue, namespace), backup_id="b2")
    files, _ = backup.verify(s3, name, backup.load_manifest(s3, name, "backups/", "dev", "b2"))
    restored = f"reg-{namespace}-dr"
    try:
        counts = backup.restore_registry(glue, json.loads(files["registry.json"]), restored)
        assert counts == dict.fromkeys(counts, 1)
        assert len(counts) == 6
        # the restored registry answers the same definitions: re-registering the repo's schemas is a no-op
        again = GlueSchemaRegistry(glue, restored).register_all()
        assert {r.created for r in again.values()} == {False}
    finally:
        glue.delete_registry(RegistryId={"RegistryName": restored})
    dr = f"dr{uuid.uuid4().hex[:6]}-"
    doc = json.loads(files["topics.json"])
    doc["topics"] = {t: v for t, v in doc["topics"].items() if t.startswith(f"{namespace}.")}
    report = backup.restore_topics(admin_client(local_engines.kafka_bootstrap), doc, replication_factor=1, prefix=dr)
    assert sorted(report["created"]) == sorted(f"{dr}{t}" for t in doc["topics"])
    md = admin_client(local_engines.kafka_bootstrap).list_topics(timeout=10).topics
    assert len(md[f"{dr}{namespace}.events.page_view"].partitions) == 3


class _FakeCursor:
    def __init__(self) -> None:
        self.description: list[tuple[str]] = []
        self.rows: list[tuple[str, ...]] = []
        self.executed: list[str] = []

    def execute(self, sql: str) -> None:
        self.executed.append(sql)
        if sql.startswith("SHOW TAGS"):
            self.description, self.rows = [("created_on",), ("name",)], [("x", "PII_VISITOR_ID")]
        elif sql.startswith("SHOW MASKING"):
            self.description, self.rows = [("created_on",), ("name",)], [("x", "PII_VISITOR_ID_VARCHAR")]
        elif sql.startswith("SHOW ROW"):
            self.description, self.rows = [("name",)], []
        else:
            name = sql.split("'")[3]
            self.rows = [(f"create or replace ... {name}",)]

    def fetchall(self) -> list[tuple[str, ...]]:
        return self.rows

    def fetchone(self) -> tuple[str, ...]:
        return self.rows[0]


class _FakeConnection:
    def __init__(self) -> None:
        self.cur = _FakeCursor()

    def cursor(self) -> _FakeCursor:
        return self.cur


def test_governance_ddl_is_get_ddl_of_every_tag_and_policy_in_the_governance_schema():
    conn = _FakeConnection()
    ddl = backup.governance_ddl(conn)
    assert [s for s in conn.cur.executed if s.startswith("SELECT")] == [
        "SELECT GET_DDL('TAG', 'GOVERNANCE.POLICIES.PII_VISITOR_ID', TRUE)",
        "SELECT GET_DDL('POLICY', 'GOVERNANCE.POLICIES.PII_VISITOR_ID_VARCHAR', TRUE)",
    ]
    assert "create or replace ... GOVERNANCE.POLICIES.PII_VISITOR_ID;" in ddl
    assert "-- masking policy GOVERNANCE.POLICIES.PII_VISITOR_ID_VARCHAR\n" in ddl


def test_export_cli_needs_a_bucket(capsys, monkeypatch):
    monkeypatch.delenv("AA_BACKUP_BUCKET", raising=False)
    assert backup.main(["verify", "--stack", "dev"]) == 2
    assert "--bucket (or AA_BACKUP_BUCKET) is required" in capsys.readouterr().err


def test_the_cronjobs_command_exports_verifies_and_restores_through_the_cli(
    local_engines, glue, namespace, bucket, capsys, monkeypatch, tmp_path
):
    _, name = bucket
    GlueSchemaRegistry(glue, f"reg-{namespace}").register_all()
    monkeypatch.setenv("AA_REGISTRY_NAME", f"reg-{namespace}")
    monkeypatch.setenv("AA_BACKUP_BUCKET", name)
    monkeypatch.setenv("AA_AWS_ENDPOINT", local_engines.moto_url)
    monkeypatch.setenv("AA_GLUE_ENDPOINT", local_engines.moto_url)
    monkeypatch.setenv("AA_KAFKA_BOOTSTRAP", local_engines.kafka_bootstrap)
    monkeypatch.delenv("SNOWFLAKE_ACCOUNT", raising=False)
    assert backup.main(["export", "--stack", "prod"]) == 0  # what the CronJob runs (bucket from the ConfigMap)
    exported = json.loads(capsys.readouterr().out)
    assert exported["event"] == "backup_exported"
    assert "pulumi/Pulumi.prod.yaml" in exported["files"]
    assert backup.main(["verify", "--stack", "prod"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    out = tmp_path / "restore"
    assert backup.main(["restore", "--stack", "prod", "--out", str(out), "--apply", "rules", "--rules-file",
                        str(tmp_path / "rules.yaml")]) == 0  # fmt: skip
    assert (tmp_path / "rules.yaml").read_bytes() == (backup.RULES_FILE).read_bytes()
    assert (out / "registry.json").exists()
    assert backup.main(["restore", "--stack", "prod", "--out", str(out), "--apply", "everything"]) == 2
    assert "--apply everything: allowed registry, topics, rules" in capsys.readouterr().err
