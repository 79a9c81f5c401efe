from __future__ import annotations

import json

import pulumi_aws as aws

from infra.lake import Lake, LakeConfig, ReplicationConfig
from tests.infra.conftest import Recorder, mocked

RETENTION = {"page_view": 400, "conversion": 2555, "dead_letter": 30}


def _build(config: LakeConfig | None = None, replica: bool = False) -> Lake:
    provider = aws.Provider("replica", region="eu-central-1") if replica else None
    return Lake("lake", config or LakeConfig(), RETENTION, replica_provider=provider)


def _by_bucket(mocks: Recorder, typ: str) -> dict[str, dict]:
    return {r.inputs["bucket"].removesuffix("-id"): r.inputs for r in mocks.of_type(typ)}


def test_event_buckets_tier_down_then_expire_per_schema_retention(mocks: Recorder):
    mocked(lambda: _build())

    rules = {
        r["id"]: r
        for r in _by_bucket(mocks, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["lake-enriched"][
            "rules"
        ]
    }
    assert rules["tier-page_view"]["filter"] == {"prefix": "events/event_type=page_view/"}
    assert rules["tier-page_view"]["transitions"] == [
        {"days": 30, "storageClass": "STANDARD_IA"},
        {"days": 90, "storageClass": "GLACIER_IR"},
        {"days": 365, "storageClass": "DEEP_ARCHIVE"},
    ]
    assert rules["tier-page_view"]["expiration"] == {"days": 400}
    assert rules["tier-conversion"]["expiration"] == {"days": 2555}
    assert "tier-dead_letter" not in rules
    assert rules["housekeeping"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    # the stream's per-batch commit markers and ledger files (8,640 a day each at a 10 s trigger)
    for folder in ("_commits", "_ledger"):
        rule = rules[f"expire-{folder.strip('_')}"]
        assert (rule["filter"], rule["expiration"], rule["transitions"]) == (
            {"prefix": f"events/{folder}/"},
            {"days": 14},
            [],
        )


def test_short_retention_drops_the_tiers_at_or_after_expiry(mocks: Recorder):
    mocked(lambda: _build())

    lifecycle = _by_bucket(mocks, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    rule = next(r for r in lifecycle["lake-dead-letter"]["rules"] if r["id"] == "tier-all")
    assert rule["expiration"] == {"days": 30}
    assert "transitions" not in rule or rule["transitions"] == []


def test_every_bucket_is_versioned_encrypted_private_and_tls_only(mocks: Recorder):
    mocked(lambda: _build())

    buckets = {r.name for r in mocks.of_type("aws:s3/bucket:Bucket")}
    assert buckets == {f"lake-{k}" for k in ("raw", "enriched", "dead-letter", "artifacts", "access-logs", "audit")}
    versioning = _by_bucket(mocks, "aws:s3/bucketVersioning:BucketVersioning")
    sse = _by_bucket(mocks, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    pab = _by_bucket(mocks, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    policies = _by_bucket(mocks, "aws:s3/bucketPolicy:BucketPolicy")
    for name in buckets:
        assert versioning[name]["versioningConfiguration"] == {"status": "Enabled"}
        default = sse[name]["rules"][0]["applyServerSideEncryptionByDefault"]
        assert default["sseAlgorithm"] == ("AES256" if name == "lake-access-logs" else "aws:kms")
        assert {
            k: pab[name][k]
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        } == dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)
        deny = json.loads(policies[name]["policy"])["Statement"][0]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for key in mocks.of_type("aws:kms/key:Key"):  # the lake's and the audit bucket's
        assert key.inputs["enableKeyRotation"] is True


def test_replication_copies_raw_and_enriched_to_encrypted_replicas(mocks: Recorder):
    config = LakeConfig(replication=ReplicationConfig(enabled=True, region="eu-central-1"))
    mocked(lambda: _build(config, replica=True))

    configs = _by_bucket(mocks, "aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    assert set(configs) == {"lake-raw", "lake-enriched"}
    rule = configs["lake-raw"]["rules"][0]
    assert rule["destination"]["bucket"] == "arn:aws:s3:::lake-raw-replica-bucket"
    assert rule["sourceSelectionCriteria"]["sseKmsEncryptedObjects"] == {"status": "Enabled"}
    assert rule["destination"]["encryptionConfiguration"]["replicaKmsKeyId"].endswith("lake-replica-key")


def test_replica_buckets_and_their_settings_live_in_the_replica_region(mocks: Recorder):
    config = LakeConfig(replication=ReplicationConfig(enabled=True, region="eu-central-1"))
    mocked(lambda: _build(config, replica=True))

    replica_related = [r for r in mocks.created if "-replica" in r.name and r.typ.startswith("aws:s3/")]
    assert len(replica_related) >= 14  # 2 buckets x (bucket, versioning, sse, pab, ownership, policy, lifecycle)
    for r in replica_related:
        assert "pulumi:providers:aws::replica" in (r.provider or ""), (r.typ, r.name)
    lifecycle = _by_bucket(mocks, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert lifecycle["lake-raw-replica"]["rules"] == lifecycle["lake-raw"]["rules"]
