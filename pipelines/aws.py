"""boto3 clients for the platform: AWS itself in the cloud, or a local endpoint (moto) given by URL."""

from __future__ import annotations

import os
from typing import Any


def aws_client(service: str, endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A client in AWS_REGION (default us-east-1). With ``endpoint_url`` and no credentials in the
    environment it signs with placeholder keys: a local moto endpoint accepts any, AWS never sees them."""
    import boto3

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    kwargs: dict[str, Any] = {"region_name": region}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            kwargs.update(aws_access_key_id="local", aws_secret_access_key="local")
    return boto3.client(service, **kwargs)  # type: ignore[call-overload]  # service is a runtime name
