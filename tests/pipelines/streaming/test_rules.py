"""Pure rules of the stream: validation, late/future policy, enrichment, bot signals, channel, config."""

from __future__ import annotations

import copy

import pytest

from pipelines.contracts.samples import one_of_each
from pipelines.streaming import enrichment, validation
from pipelines.streaming.config import StreamConfigError, load_config

NOW = 1_795_010_000_000  # after every sample (conversions arrive ~1 h after their click)
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def samples():
    return copy.deepcopy(one_of_each())


def test_every_sample_event_type_is_valid(samples):
    for event_type, record in samples.items():
        assert validation.check(event_type, record, NOW) is None, event_type


@pytest.mark.parametrize("event_type", ["affiliate_click", "product_impression"])
def test_position_below_one_is_a_business_rule_violation(samples, event_type):
    samples[event_type]["position"] = 0
    rejection = validation.check(event_type, samples[event_type], NOW)
    assert rejection == validation.Rejection(
        "business_rule", f"{event_type}.position: 0 is below 1 (positions are 1-based)"
    )


def test_event_id_must_be_a_uuid(samples):
    samples["page_view"]["event_id"] = "abc"
    rejection = validation.check("page_view", samples["page_view"], NOW)
    assert rejection is not None
    assert rejection.reason == "business_rule"
    assert "event_id" in rejection.detail


def test_unknown_chart_action_and_bad_currency_are_rejected(samples):
    samples["chart_interaction"]["action"] = "wiggle"
    samples["conversion"]["currency"] = "usd"
    chart = validation.check("chart_interaction", samples["chart_interaction"], NOW)
    conv = validation.check("conversion", samples["conversion"], NOW)
    assert chart is not None
    assert "action" in chart.detail
    assert conv is not None
    assert "currency" in conv.detail


def test_event_sent_more_than_the_allowed_delay_after_creation_is_late(samples):
    ctx = samples["page_view"]["context"]
    ctx["device_created_at"] = ctx["device_sent_at"] - 73 * 3_600_000
    rejection = validation.check("page_view", samples["page_view"], NOW)
    assert rejection is not None
    assert rejection.reason == "late_event"
    ctx["device_created_at"] = ctx["device_sent_at"] - 71 * 3_600_000
    assert validation.check("page_view", samples["page_view"], NOW) is None


def test_event_time_corrects_device_clock_skew(samples):
    ctx = samples["page_view"]["context"]
    ctx.update(device_created_at=1_000, device_sent_at=2_000, collector_received_at=10_000_000)
    assert validation.event_time_ms("page_view", samples["page_view"]) == 10_000_000 - 1_000


def test_received_ahead_of_the_stream_clock_or_created_after_sent_is_future(samples):
    ctx = samples["page_view"]["context"]
    ahead = validation.check("page_view", samples["page_view"], ctx["collector_received_at"] - 10 * 60_000)
    assert ahead is not None
    assert ahead.reason == "future_event"
    ctx["device_created_at"] = ctx["device_sent_at"] + 3_600_000
    created_after_sent = validation.check("page_view", samples["page_view"], NOW)
    assert created_after_sent is not None
    assert created_after_sent.reason == "future_event"


def test_old_conversions_are_not_late(samples):
    samples["conversion"]["occurred_at"] = samples["conversion"]["collector_received_at"] - 30 * 86_400_000
    assert validation.check("conversion", samples["conversion"], NOW) is None


@pytest.mark.parametrize(
    ("ua", "device_type", "browser", "os"),
    [
        (CHROME, "desktop", "Chrome", "Windows"),
        (IPHONE, "mobile", "Mobile Safari", "iOS"),
        ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", "tablet", None, "iOS"),
        (None, "unknown", "unknown", "unknown"),
    ],
)
def test_user_agent_gives_device_browser_and_os(ua, device_type, browser, os):
    d = enrichment.parse_user_agent(ua)
    assert d.device_type == device_type
    assert d.os == os
    if browser:
        assert d.browser == browser


def test_bot_signals_are_combined_and_named(samples):
    ctx = samples["page_view"]["context"]
    ctx["user_agent"] = CHROME
    assert enrichment.bot_reasons("page_view", samples["page_view"]) == ()
    ctx["user_agent"] = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    assert {"ua_crawler", "ua_spider"} <= set(enrichment.bot_reasons("page_view", samples["page_view"]))
    ctx["user_agent"] = CHROME.replace("Chrome/131.0", "HeadlessChrome/131.0")
    assert "headless" in enrichment.bot_reasons("page_view", samples["page_view"])
    ctx["user_agent"], ctx["viewport_width"] = CHROME, None
    assert enrichment.bot_reasons("page_view", samples["page_view"]) == ("no_viewport",)
    ctx["user_agent"] = None
    assert "ua_missing" in enrichment.bot_reasons("page_view", samples["page_view"])
    assert enrichment.bot_reasons("conversion", samples["conversion"]) == ()


@pytest.mark.parametrize(
    ("source", "medium", "referrer", "click_id", "channel"),
    [
        ("google", "cpc", "https://www.google.com/", False, "paid_search"),
        ("facebook", "cpc", None, False, "paid_social"),
        (None, None, None, True, "paid_search"),
        ("newsletter", "email", None, False, "email"),
        ("partner", "affiliate", None, False, "affiliate"),
        ("x", "display", None, False, "display"),
        ("spring", "banner", None, False, "other_campaign"),
        (None, None, "https://www.google.co.uk/search", False, "organic_search"),
        (None, None, "https://duckduckgo.com/", False, "organic_search"),
        (None, None, "https://news.ycombinator.com/item", False, "organic_social"),
        (None, None, "https://blog.example.org/post", False, "referral"),
        (None, None, "https://site.example/other", False, "internal"),
        (None, None, None, False, "direct"),
    ],
)
def test_channel_from_utm_click_ids_and_referrer(source, medium, referrer, click_id, channel):
    assert enrichment.classify_channel(source, medium, referrer, "https://site.example/page", click_id) == channel


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(StreamConfigError, match=r"key 'trigger_seconds': .*greater than 0.*got -1"):
        load_config(lake_dir=tmp_path, checkpoint_dir=tmp_path, trigger_seconds=-1)
    with pytest.raises(StreamConfigError, match=r"key 'kafka_bootstrap': .*host:port"):
        load_config(lake_dir=tmp_path, checkpoint_dir=tmp_path, kafka_bootstrap="nohost")
    with pytest.raises(StreamConfigError, match=r"key 'rules_file': .*does not exist"):
        load_config(lake_dir=tmp_path, checkpoint_dir=tmp_path, rules_file=tmp_path / "missing.yaml")
    with pytest.raises(StreamConfigError, match=r"key 'trigger_secs': Extra inputs are not permitted"):
        load_config(lake_dir=tmp_path, checkpoint_dir=tmp_path, trigger_secs=3)


def test_cli_rejects_a_bad_setting_naming_the_key_before_spark_starts(tmp_path, capsys):
    from pipelines.streaming.__main__ import main

    code = main(["run", "--lake-dir", str(tmp_path), "--checkpoint-dir", str(tmp_path), "--trigger-seconds", "0"])
    assert code == 2
    assert "key 'trigger_seconds'" in capsys.readouterr().err


def test_the_spark_submit_entry_file_reads_lake_and_checkpoint_from_the_environment(monkeypatch):
    import sys

    from pipelines.streaming import main as entry

    monkeypatch.setattr(sys, "argv", ["main.py"])
    monkeypatch.setenv("AA_LAKE_DIR", "/data/lake")
    monkeypatch.setenv("AA_CHECKPOINT_DIR", "/data/ckpt")
    assert entry._argv() == ["run", "--lake-dir", "/data/lake", "--checkpoint-dir", "/data/ckpt"]


def test_the_clouds_s3a_locations_reach_the_stream_config_intact(monkeypatch):
    """The SparkApplication sets AA_LAKE_DIR / AA_CHECKPOINT_DIR to s3a:// URIs; argparse's Path
    used to fold them to ``s3a:/bucket/…`` (no bucket), so the cloud stream could not start."""
    import sys

    from pipelines.streaming import __main__ as cli
    from pipelines.streaming import config
    from pipelines.streaming import main as entry

    monkeypatch.setattr(sys, "argv", ["main.py"])
    monkeypatch.setenv("AA_LAKE_DIR", "s3a://lake-enriched/events")
    monkeypatch.setenv("AA_CHECKPOINT_DIR", "s3a://lake-enriched/_checkpoints/stream")
    seen: list[config.StreamConfig] = []

    def capture(**values: object) -> config.StreamConfig:
        seen.append(config.load_config(**values))
        raise config.StreamConfigError("stop before Spark")

    monkeypatch.setattr(cli, "load_config", capture)
    assert cli.main(entry._argv()) == 2
    assert (seen[0].lake_dir, seen[0].checkpoint_dir) == (
        "s3a://lake-enriched/events",
        "s3a://lake-enriched/_checkpoints/stream",
    )
    assert seen[0].lake.is_s3
