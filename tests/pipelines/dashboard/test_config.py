"""Configuration: flags over environment over defaults; every error names the flag or variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.dashboard.__main__ import main, parse_args
from pipelines.dashboard.config import ConfigError, load_config


def test_defaults_are_local_and_loopback():
    cfg = load_config({}, env={})
    assert (cfg.host, cfg.port, cfg.backend, cfg.redis_prefix) == ("127.0.0.1", 8090, "duckdb", "aa")
    assert str(cfg.warehouse) == ".local/warehouse.duckdb"


def test_flags_win_over_environment():
    cfg = load_config(
        parse_args(["--port", "9001"]), env={"AA_DASHBOARD_PORT": "9000", "AA_DASHBOARD_REDIS_PREFIX": "x"}
    )
    assert (cfg.port, cfg.redis_prefix) == (9001, "x")


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--port", "70000"], {}, "--port (command line): Input should be less than or equal to 65535, got '70000'"),
        ([], {"AA_DASHBOARD_PORT": "http"}, "AA_DASHBOARD_PORT (environment): Input should be a valid integer"),
        (["--host", "0.0.0.0"], {}, "host '0.0.0.0' is not a loopback address; set allow_remote"),
        (["--redis-url", "localhost:6379"], {}, "--redis-url (command line): String should match pattern"),
        (["--backend", "bigquery"], {}, "--backend (command line): Input should be 'duckdb' or 'snowflake'"),
        (["--backend", "snowflake"], {}, "backend 'snowflake' needs AA_DASHBOARD_SNOWFLAKE_ACCOUNT"),
        (["--table", "x; drop table y"], {}, "--table (command line): String should match pattern"),
        (
            ["--backend", "snowflake"],
            {"AA_DASHBOARD_SNOWFLAKE_ACCOUNT": "a", "AA_DASHBOARD_SNOWFLAKE_USER": "u"},
            "AA_DASHBOARD_SNOWFLAKE_ (environment): snowflake_private_key_path (or snowflake_password) is required",
        ),
        ([], {"AA_DASHBOARD_COLOUR": "blue"}, "AA_DASHBOARD_COLOUR (environment): unknown key"),
    ],
)
def test_errors_name_the_key_and_what_is_allowed(argv, env, message):
    with pytest.raises(ConfigError) as err:
        load_config(parse_args(argv), env=env)
    assert message in str(err.value)


def test_remote_host_needs_allow_remote():
    cfg = load_config(parse_args(["--host", "0.0.0.0", "--allow-remote"]), env={})
    assert cfg.allow_remote


def test_bad_config_exits_2_with_the_key_on_stderr(capsys):
    assert main(["--port", "0"]) == 2
    assert "--port (command line)" in capsys.readouterr().err


def test_entry_point_refuses_bad_flags_before_starting():
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.dashboard", "--push-interval", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--push-interval (command line): Input should be greater than or equal to 0.2" in proc.stderr
