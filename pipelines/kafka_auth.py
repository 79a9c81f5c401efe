"""How every Kafka client of the platform authenticates, chosen by one setting: ``AA_KAFKA_AUTH``.

- ``plaintext`` (default): the local KRaft broker of ``pipelines.local.engines``.
- ``msk-iam``: Amazon MSK with IAM access control (the only client authentication the cloud stack
  enables, ``infra/kafka.py``). The Python clients (confluent-kafka / librdkafka) speak SASL
  OAUTHBEARER over TLS with a token signed by ``aws-msk-iam-sasl-signer-python`` from the pod's
  credentials (EKS pod identity / IRSA); Spark's Kafka source and sink (Java clients) use the
  ``aws-msk-iam-auth`` login module (the jar is in ``infra/streaming.py``'s packages).

One definition serves the collector, the stream's dead-letter producer, topic sync, the quality
monitor and the replay tools, so a client cannot be left on the wrong protocol.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Literal, cast, get_args

KafkaAuth = Literal["plaintext", "msk-iam"]
AUTH_ENV = "AA_KAFKA_AUTH"
REGION_ENVS = ("AA_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")

# Spark's Java clients: the MSK IAM login module and callback handler of software.amazon.msk:aws-msk-iam-auth.
_SPARK_MSK_IAM = {
    "kafka.security.protocol": "SASL_SSL",
    "kafka.sasl.mechanism": "AWS_MSK_IAM",
    "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
    "kafka.sasl.client.callback.handler.class": "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
}

TokenSigner = Callable[[str], tuple[str, int]]  # region -> (token, expiry in epoch ms)


class KafkaAuthError(ValueError):
    pass


def auth_mode(env: Mapping[str, str] | None = None) -> KafkaAuth:
    """The configured mode; an unknown value names the variable and the allowed values."""
    env = os.environ if env is None else env
    value = env.get(AUTH_ENV, "plaintext") or "plaintext"
    allowed = get_args(KafkaAuth)
    if value not in allowed:
        raise KafkaAuthError(f"environment variable {AUTH_ENV}={value!r}: expected one of {', '.join(allowed)}")
    return cast("KafkaAuth", value)


def region(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    for key in REGION_ENVS:
        if env.get(key):
            return env[key]
    raise KafkaAuthError(f"{AUTH_ENV}=msk-iam needs the AWS region: set one of {', '.join(REGION_ENVS)}")


def _msk_signer(aws_region: str) -> tuple[str, int]:
    from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

    token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(aws_region)
    return str(token), int(expiry_ms)


def client_config(env: Mapping[str, str] | None = None, signer: TokenSigner = _msk_signer) -> dict[str, Any]:
    """librdkafka settings to merge into a Producer/Consumer/AdminClient configuration."""
    if auth_mode(env) == "plaintext":
        return {}
    aws_region = region(env)

    def oauth_cb(_config: str) -> tuple[str, float]:
        # librdkafka calls this before the token expires (15 min) and wants the expiry in seconds
        token, expiry_ms = signer(aws_region)
        return token, expiry_ms / 1000

    return {"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER", "oauth_cb": oauth_cb}


def spark_options(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``kafka.*`` options for Spark's Kafka source and sink."""
    return {} if auth_mode(env) == "plaintext" else dict(_SPARK_MSK_IAM)
