"""Alert delivery through the monitor pass: a 60 % volume drop raises one alert and one resolution,
delivered to moto's SNS (read back through an SQS subscription), the local sink and a webhook."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import boto3
import pytest

from pipelines.quality import monitor, store
from pipelines.quality.config import Locations, load_config

pytestmark = pytest.mark.engines


def _aws(endpoint: str) -> tuple[Any, Any]:
    kw: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    return boto3.client("sns", **kw), boto3.client("sqs", **kw)


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self):
        _Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _history(root: store.Root, hour: int, page_views: int) -> None:
    """The hour under test and four weeks of the same hour of week (synthetic ledger history)."""

    def rows(h: int, n: int) -> list[dict]:
        return [
            {"minute": h * 60, "event_type": "page_view", "received": n, "counts": {}},
            {"minute": h * 60, "event_type": "affiliate_click", "received": 80, "counts": {}},
        ]

    for k, n in ((1, 1000), (2, 1040), (3, 980), (4, 1010)):
        store.write_rows(root, hour - 168 * k, rows(hour - 168 * k, n), 0)
    store.write_rows(root, hour, rows(hour, page_views), 0)


def test_a_volume_drop_alerts_once_and_resolves_once_on_sns_the_local_sink_and_a_webhook(local_engines, tmp_path):
    sns, sqs = _aws(local_engines.moto_url)
    name = f"quality-{uuid.uuid4().hex[:8]}"
    topic = sns.create_topic(Name=f"{name}-warning")["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received = []

    loc = Locations(
        redis_url=local_engines.redis_url,
        kafka_bootstrap=None,
        lake_dir=None,
        warehouse_path=None,
        batch_dir=None,
        state_dir=tmp_path / "state",
        sink_file=tmp_path / "state" / "alerts.jsonl",
        webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
        sns_topics={"warning": topic},
        aws_endpoint=local_engines.moto_url,
    )
    cfg = load_config(overrides={"redis_prefix": name})
    hour = int(time.time() // 3600) - 1
    root = monitor.ledger_root(loc)
    try:
        _history(root, hour, page_views=400)  # 60 % below the same hour of the last four weeks
        first = monitor.run_pass(cfg, loc, volume_hour=hour)
        again = monitor.run_pass(cfg, loc, volume_hour=hour)  # still down: the same incident, no new alert
        _history(root, hour, page_views=1000)  # recovered
        cleared = monitor.run_pass(cfg, loc, volume_hour=hour)
    finally:
        server.shutdown()

    assert [f.key for f in first.findings] == ["volume/page_view"]
    assert [n.kind for n in first.notifications] == ["alert"]
    assert [f.key for f in again.findings] == ["volume/page_view"]
    assert again.notifications == []
    assert cleared.findings == []
    assert [n.kind for n in cleared.notifications] == ["resolved"]
    assert cleared.open_incidents == []

    local = [json.loads(line) for line in (tmp_path / "state" / "alerts.jsonl").read_text().splitlines()]
    assert [(a["kind"], a["key"], a["severity"]) for a in local] == [
        ("alert", "volume/page_view", "warning"),
        ("resolved", "volume/page_view", "warning"),
    ]
    assert "page_view: 400 events in" in local[0]["message"]
    assert "-60% against the same hour of week (median 1005 over 4 weeks" in local[0]["message"]
    assert [(h["kind"], h["key"]) for h in _Hook.received] == [
        ("alert", "volume/page_view"),
        ("resolved", "volume/page_view"),
    ]

    messages = []
    deadline = time.monotonic() + 20
    while len(messages) < 2 and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        messages += [json.loads(m["Body"]) for m in got]
    assert [m["Subject"] for m in messages] == [
        "[WARNING] affiliate-analytics: volume drop for page_view",
        "[RESOLVED] affiliate-analytics: volume drop for page_view",
    ]
    bodies = [json.loads(m["Message"]) for m in messages]
    assert [(b["kind"], b["key"]) for b in bodies] == [("alert", "volume/page_view"), ("resolved", "volume/page_view")]
    assert messages[0]["MessageAttributes"]["severity"]["Value"] == "warning"
