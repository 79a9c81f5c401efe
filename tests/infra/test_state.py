"""The platform's own state: Pulumi backend bucket and configuration backups, and the backup CronJob."""

from __future__ import annotations

import json

from tests.infra.conftest import Recorder


def _bucket(recorder: Recorder, name: str) -> dict:
    return recorder.one("aws:s3/bucket:Bucket", name).inputs


def test_state_and_backup_buckets_have_fixed_names_versioning_and_kms(stack: Recorder):
    env = "prod" if any(r.name == "state-pulumi-replica" for r in stack.created) else "dev"
    assert _bucket(stack, "state-pulumi")["bucket"] == f"affiliate-analytics-pulumi-state-{env}"
    assert _bucket(stack, "state-backups")["bucket"] == f"affiliate-analytics-backups-{env}"
    for name in ("state-pulumi", "state-backups"):
        versioning = stack.one("aws:s3/bucketVersioning:BucketVersioning", name).inputs
        assert versioning["versioningConfiguration"] == {"status": "Enabled"}
        sse = stack.one(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", name
        ).inputs
        assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
        block = stack.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", name).inputs
        assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls"))
    rules = {
        r.name: r.inputs["rules"][0]
        for r in stack.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        if r.name.startswith("state-")
    }
    assert "expiration" not in rules["state-pulumi"]  # the current state never expires
    assert rules["state-backups"]["expiration"]["days"] == (30 if env == "dev" else 180)


def test_prod_replicates_state_and_backups_to_the_dr_region_dev_does_not(dev: Recorder, prod: Recorder):
    assert [
        r.name for r in dev.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig") if "state" in r.name
    ] == []
    configs = {
        r.name: r.inputs
        for r in prod.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")
        if r.name.startswith("state-")
    }
    assert set(configs) == {"state-pulumi", "state-backups"}
    for cfg in configs.values():
        rule = cfg["rules"][0]
        assert rule["deleteMarkerReplication"] == {"status": "Enabled"}
        assert rule["destination"]["encryptionConfiguration"]["replicaKmsKeyId"]
    replica = _bucket(prod, "state-pulumi-replica")
    assert replica["bucket"] == "affiliate-analytics-pulumi-state-prod-eu-central-1"
    provider = prod.one("aws:s3/bucket:Bucket", "state-pulumi-replica").provider or ""
    assert "aws-replica" in provider  # the lake's DR-region provider, same region


def test_state_buckets_are_protected_in_prod(prod: Recorder):
    assert prod.protected[("aws:s3/bucket:Bucket", "state-pulumi")] is True
    assert prod.protected[("aws:s3/bucket:Bucket", "state-backups")] is True


def test_backup_cronjob_runs_the_export_with_its_own_least_privilege_role(stack: Recorder):
    cron = stack.one("kubernetes:batch/v1:CronJob", "workloads-backup").inputs
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "backup"
    assert pod["containers"][0]["command"][:4] == ["python", "-m", "pipelines.ops.backup", "export"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    policy = json.loads(stack.one("aws:iam/rolePolicy:RolePolicy", "irsa-backup").inputs["policy"])
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert "s3:PutObject" in actions
    assert "glue:ListSchemaVersions" in actions
    assert "s3:DeleteObject" not in actions  # a compromised job cannot erase earlier backups
    assert not any(a.endswith("*") for a in actions)
    settings = stack.one("kubernetes:core/v1:ConfigMap", "workloads-settings").inputs["data"]
    assert settings["AA_BACKUP_BUCKET"].startswith("affiliate-analytics-backups-")
