"""AA_KAFKA_AUTH: one setting picks the protocol of every Kafka client; msk-iam signs real tokens."""

from __future__ import annotations

import base64
import threading
import time
import urllib.parse

import pytest
from confluent_kafka import Producer

from pipelines import kafka_auth
from pipelines.streaming.config import StreamConfig


def test_plaintext_is_the_default_and_adds_nothing():
    assert kafka_auth.client_config({}) == {}
    assert kafka_auth.spark_options({"AA_KAFKA_AUTH": "plaintext"}) == {}


def test_an_unknown_mode_names_the_variable_and_the_allowed_values():
    with pytest.raises(
        kafka_auth.KafkaAuthError,
        match=r"^environment variable AA_KAFKA_AUTH='sasl': expected one of plaintext, msk-iam$",
    ):
        kafka_auth.client_config({"AA_KAFKA_AUTH": "sasl"})


def test_msk_iam_needs_a_region():
    with pytest.raises(kafka_auth.KafkaAuthError, match="set one of AA_AWS_REGION, AWS_REGION, AWS_DEFAULT_REGION"):
        kafka_auth.client_config({"AA_KAFKA_AUTH": "msk-iam"})


def test_spark_options_use_the_msk_iam_login_module():
    assert kafka_auth.spark_options({"AA_KAFKA_AUTH": "msk-iam"}) == {
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "AWS_MSK_IAM",
        "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
        "kafka.sasl.client.callback.handler.class": "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
    }


def test_the_stream_takes_its_source_options_from_the_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("AA_KAFKA_AUTH", "msk-iam")
    cfg = StreamConfig(lake_dir=tmp_path, checkpoint_dir=tmp_path)
    assert cfg.kafka_options["kafka.sasl.mechanism"] == "AWS_MSK_IAM"


def test_msk_iam_signs_a_connect_token_with_the_pods_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    cfg = kafka_auth.client_config({"AA_KAFKA_AUTH": "msk-iam", "AWS_REGION": "eu-west-1"})
    assert (cfg["security.protocol"], cfg["sasl.mechanism"]) == ("SASL_SSL", "OAUTHBEARER")

    token, expiry_s = cfg["oauth_cb"]("")
    url = urllib.parse.urlparse(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    query = urllib.parse.parse_qs(url.query)
    assert url.hostname == "kafka.eu-west-1.amazonaws.com"
    assert query["Action"] == ["kafka-cluster:Connect"]
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")
    assert query["X-Amz-Expires"] == ["900"]
    assert abs(expiry_s - (time.time() + 900)) < 60


def test_librdkafka_accepts_the_config_and_asks_the_callback_for_a_token():
    asked = threading.Event()

    def signer(region: str) -> tuple[str, int]:
        assert region == "us-east-1"
        asked.set()
        return "token", int((time.time() + 900) * 1000)

    cfg = kafka_auth.client_config({"AA_KAFKA_AUTH": "msk-iam", "AWS_DEFAULT_REGION": "us-east-1"}, signer=signer)
    # nothing listens on port 1: the client still fetches its token before it connects
    producer = Producer({"bootstrap.servers": "127.0.0.1:1", **cfg})
    deadline = time.monotonic() + 10
    while not asked.is_set() and time.monotonic() < deadline:
        producer.poll(0.1)
    assert asked.is_set()
