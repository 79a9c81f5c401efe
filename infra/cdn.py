"""CDN: one CloudFront host for the tracer bundle and the collector.

Creates: a private static bucket (versioned, encrypted, public access blocked, TLS only) readable
only by the distribution through origin access control; the tracer bundle uploaded under a
content-hash path (``tracer/<sha256>/tracer.js``, cached for a year, immutable); an origin request
policy forwarding the viewer geo and address headers (``CloudFront-Viewer-Country``, ``-Country-Region``,
``-City``, ``-Address``) plus ``User-Agent``/``Referer``/``Origin`` to the collector; and the
distribution: default behaviour → static bucket (cached), ``/v1/*`` and ``/r`` → the collector's ALB
(not cached, all methods on ``/v1/*``), HTTPS for viewers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import pulumi
import pulumi_aws as aws
from pydantic import Field, model_validator

from infra.component import PlatformComponent, Settings
from infra.lake import SecureBucket, tls_only_statement

CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"  # AWS managed cache policy
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # AWS managed cache policy
COLLECTOR_HEADERS = (
    "CloudFront-Viewer-Country",
    "CloudFront-Viewer-Country-Region",
    "CloudFront-Viewer-City",
    "CloudFront-Viewer-Address",
    "User-Agent",
    "Referer",
    "Origin",
    "Content-Type",
)


class CdnConfig(Settings):
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_100"
    aliases: tuple[str, ...] = ()
    certificate_arn: str | None = Field(default=None, pattern=r"^arn:aws:acm:us-east-1:")
    collector_origin_protocol: Literal["https-only", "http-only"] = "https-only"
    force_destroy: bool = False

    @model_validator(mode="after")
    def _cert(self) -> CdnConfig:
        if self.aliases and not self.certificate_arn:
            raise ValueError("aliases need a certificateArn (an ACM certificate in us-east-1)")
        return self


def tracer_key(path: Path) -> str:
    return f"tracer/{hashlib.sha256(path.read_bytes()).hexdigest()}/{path.name}"


class Cdn(PlatformComponent):
    module = "cdn"

    def __init__(
        self,
        name: str,
        config: CdnConfig,
        collector_origin: pulumi.Input[str],
        tracer_bundle: Path | None,
        opts: pulumi.ResourceOptions | None = None,
        protect_stateful: bool = False,
    ) -> None:
        super().__init__(name, opts, protect_stateful)
        static = SecureBucket(self, f"{name}-static", None, config.force_destroy)
        self.tracer_key: str | None = None
        if tracer_bundle is not None:
            self.tracer_key = tracer_key(tracer_bundle)
            aws.s3.BucketObjectv2(
                f"{name}-tracer",
                bucket=static.bucket.id,
                key=self.tracer_key,
                source=pulumi.FileAsset(str(tracer_bundle)),
                content_type="application/javascript",
                cache_control="public, max-age=31536000, immutable",
                opts=self.child(),
            )
        oac = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=self.child(),
        )
        collector_policy = aws.cloudfront.OriginRequestPolicy(
            f"{name}-collector",
            comment="viewer geo/address headers for the collector",
            headers_config=aws.cloudfront.OriginRequestPolicyHeadersConfigArgs(
                header_behavior="whitelist",
                headers=aws.cloudfront.OriginRequestPolicyHeadersConfigHeadersArgs(items=list(COLLECTOR_HEADERS)),
            ),
            query_strings_config=aws.cloudfront.OriginRequestPolicyQueryStringsConfigArgs(query_string_behavior="all"),
            cookies_config=aws.cloudfront.OriginRequestPolicyCookiesConfigArgs(cookie_behavior="none"),
            opts=self.child(),
        )

        def collector_behavior(pattern: str, methods: list[str]) -> aws.cloudfront.DistributionOrderedCacheBehaviorArgs:
            return aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
                path_pattern=pattern,
                target_origin_id="collector",
                viewer_protocol_policy="https-only",
                allowed_methods=methods,
                cached_methods=["GET", "HEAD"],
                cache_policy_id=CACHING_DISABLED,
                origin_request_policy_id=collector_policy.id,
                compress=False,
            )

        self.distribution = aws.cloudfront.Distribution(
            f"{name}-distribution",
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class=config.price_class,
            aliases=list(config.aliases) or None,
            comment="tracer bundle + collector (/v1/*, /r)",
            origins=[
                aws.cloudfront.DistributionOriginArgs(
                    origin_id="static",
                    domain_name=static.bucket.bucket_regional_domain_name,
                    origin_access_control_id=oac.id,
                ),
                aws.cloudfront.DistributionOriginArgs(
                    origin_id="collector",
                    domain_name=collector_origin,
                    custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
                        http_port=80,
                        https_port=443,
                        origin_protocol_policy=config.collector_origin_protocol,
                        origin_ssl_protocols=["TLSv1.2"],
                    ),
                ),
            ],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id="static",
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=["GET", "HEAD", "OPTIONS"],
                cached_methods=["GET", "HEAD"],
                cache_policy_id=CACHING_OPTIMIZED,
                compress=True,
            ),
            ordered_cache_behaviors=[
                collector_behavior("/v1/*", ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]),
                collector_behavior("/r", ["GET", "HEAD", "OPTIONS"]),
            ],
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(restriction_type="none")
            ),
            viewer_certificate=aws.cloudfront.DistributionViewerCertificateArgs(
                acm_certificate_arn=config.certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version="TLSv1.2_2021",
            )
            if config.certificate_arn
            else aws.cloudfront.DistributionViewerCertificateArgs(cloudfront_default_certificate=True),
            opts=self.child(),
        )
        aws.s3.BucketPolicy(
            f"{name}-static",
            bucket=static.bucket.id,
            policy=pulumi.Output.all(static.bucket.arn, self.distribution.arn).apply(
                lambda a: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            tls_only_statement(str(a[0])),
                            {
                                "Sid": "CloudFrontReadOnly",
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudfront.amazonaws.com"},
                                "Action": "s3:GetObject",
                                "Resource": f"{a[0]}/*",
                                "Condition": {"StringEquals": {"AWS:SourceArn": str(a[1])}},
                            },
                        ],
                    }
                )
            ),
            opts=self.child(depends_on=[static.public_access_block]),
        )
        self.domain_name = self.distribution.domain_name
        self.static_bucket = static.bucket.bucket
        self.register_outputs({"domain_name": self.domain_name, "tracer_key": self.tracer_key})
