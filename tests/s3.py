"""moto S3 for tests: a fresh bucket, and a local lake copied into it (what the cloud stream writes)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from pipelines.aws import aws_client
from pipelines.streaming.lakefs import Lake


def new_bucket(moto_url: str, prefix: str = "lake") -> str:
    bucket = f"{prefix}-{uuid.uuid4().hex[:12]}"
    aws_client("s3", moto_url, region="us-east-1").create_bucket(Bucket=bucket)
    return bucket


def s3_copy_of(local: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Lake:
    """Every file of the local lake at the same relative path under ``s3a://<new bucket>/events``;
    AA_AWS_ENDPOINT points the lake's S3 client at moto for the rest of the test."""
    monkeypatch.setenv("AA_AWS_ENDPOINT", moto_url)
    lake = Lake.at(f"s3a://{new_bucket(moto_url)}/events")
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        lake.write_bytes(path.relative_to(local).as_posix(), path.read_bytes())
    return lake
