"""Artifacts: what a deploy ships, addressed by content so it is immutable.

Creates: an ECR repository for the platform image (immutable tags, scan on push, KMS encryption,
a lifecycle policy keeping the last N images) and, for each local artifact file that exists at
deploy time (the pipeline wheel), an S3 object in the artifacts bucket under
``<kind>/<sha256>/<file name>``. The tracer bundle is published by ``infra.cdn``. The image itself is built and pushed by CI (``docker buildx build
--push -t <repository>:<git sha>``) before ``pulumi up``; the stack takes its tag from config.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import pulumi
import pulumi_aws as aws
from pydantic import Field

from infra.component import PlatformComponent, Settings


class ArtifactsConfig(Settings):
    image_tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    keep_images: int = Field(default=30, ge=1)
    wheel_glob: str = "dist/affiliate_analytics-*.whl"
    tracer_bundle: str = "tracer/dist/tracer.js"


def content_key(kind: str, path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return f"{kind}/{digest}/{path.name}"


class Artifacts(PlatformComponent):
    module = "artifacts"

    def __init__(
        self,
        name: str,
        config: ArtifactsConfig,
        bucket: pulumi.Input[str],
        files: Mapping[str, Path],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``files`` maps an artifact kind (``wheel``, ``tracer``) to a local file that exists."""
        super().__init__(name, opts)
        self.repository = aws.ecr.Repository(
            f"{name}-platform",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS")],
            opts=self.child(),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-platform",
            repository=self.repository.name,
            policy=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": f"keep the last {config.keep_images} images",
                            "selection": {
                                "tagStatus": "any",
                                "countType": "imageCountMoreThan",
                                "countNumber": config.keep_images,
                            },
                            "action": {"type": "expire"},
                        }
                    ]
                }
            ),
            opts=self.child(),
        )
        self.image = pulumi.Output.concat(self.repository.repository_url, ":", config.image_tag)
        self.keys: dict[str, str] = {}
        for kind, path in sorted(files.items()):
            key = content_key(kind, path)
            aws.s3.BucketObjectv2(
                f"{name}-{kind}",
                bucket=bucket,
                key=key,
                source=pulumi.FileAsset(str(path)),
                content_type="application/javascript" if path.suffix == ".js" else "application/octet-stream",
                cache_control="public, max-age=31536000, immutable" if kind == "tracer" else None,
                opts=self.child(),
            )
            self.keys[kind] = key
        self.register_outputs({"image": self.image, "keys": self.keys})
