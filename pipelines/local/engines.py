"""Local engines: a single-node Kafka (KRaft), redis-server and moto (Glue, SNS, S3) on loopback.

    python -m pipelines.local.engines fetch     # resolve the Kafka jars from Maven Central (cached)
    python -m pipelines.local.engines fetch-spark-kafka   # Spark's Kafka + Avro connector jars (cached)
    python -m pipelines.local.engines up        # start what is not running (idempotent)
    python -m pipelines.local.engines status
    python -m pipelines.local.engines down

Ports and places come from the environment (``AA_KAFKA_PORT``, ``AA_KAFKA_CONTROLLER_PORT``,
``AA_REDIS_PORT``, ``AA_MOTO_PORT``, ``AA_STATE_DIR``); logs are in ``<state dir>/logs/``. The
Kafka jars are cached in ``~/.cache/affiliate-analytics/kafka-<version>/``, outside git. The test
fixtures and ``make demo`` call :func:`up` with their own :class:`EngineConfig`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KAFKA_POM = Path(__file__).with_name("kafka-pom.xml")
SPARK_KAFKA_POM = Path(__file__).with_name("spark-kafka-pom.xml")


def _kafka_version() -> str:
    text = KAFKA_POM.read_text(encoding="utf-8")
    return text.split("<kafka.version>", 1)[1].split("</kafka.version>", 1)[0].strip()


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"environment variable {name}={raw!r}: expected a TCP port number 1-65535")
    return int(raw)


@dataclass(frozen=True)
class EngineConfig:
    state_dir: Path = field(default_factory=lambda: Path(os.environ.get("AA_STATE_DIR", REPO / ".local")))
    kafka_port: int = field(default_factory=lambda: _env_port("AA_KAFKA_PORT", 19092))
    kafka_controller_port: int = field(default_factory=lambda: _env_port("AA_KAFKA_CONTROLLER_PORT", 19093))
    redis_port: int = field(default_factory=lambda: _env_port("AA_REDIS_PORT", 16379))
    moto_port: int = field(default_factory=lambda: _env_port("AA_MOTO_PORT", 15000))
    kafka_heap: str = "512m"
    jar_cache: Path = field(
        default_factory=lambda: Path(os.environ.get("AA_JAR_CACHE", Path.home() / ".cache" / "affiliate-analytics"))
    )

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def kafka_jars(self) -> Path:
        return self.jar_cache / f"kafka-{_kafka_version()}"

    def env(self) -> dict[str, str]:
        """Environment variables that point clients at these engines."""
        return {
            "AA_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "AA_REDIS_URL": self.redis_url,
            "AA_GLUE_ENDPOINT": self.moto_url,
            "AA_AWS_ENDPOINT": self.moto_url,
        }


def log(event: str, **fields: object) -> None:
    print(json.dumps({"ts": round(time.time(), 3), "event": event, **fields}), file=sys.stderr, flush=True)


# ---------------------------------------------------------------- helpers


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_until(check: Callable[[], bool], what: str, timeout_s: float, log_file: Path | None = None) -> None:
    """Poll ``check`` until true; on timeout raise naming ``what`` with the log's last lines."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    tail = ""
    if log_file is not None and log_file.exists():
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-20:])
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f}s" + (f"; last log lines:\n{tail}" if tail else ""))


def _pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        # reap it if it is our own exited child, which would otherwise linger as a zombie
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return None
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def spawn_logged(
    cmd: list[str], log_file: Path, env: dict[str, str] | None = None, cwd: Path | None = None, new_session: bool = True
) -> subprocess.Popen[bytes]:
    """Start a process with stdout and stderr appended to ``log_file`` and no stdin (the engines,
    and the services that the demo and the drills run)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=new_session,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )


def _spawn(cmd: list[str], log_file: Path, pid_file: Path, env: dict[str, str] | None = None) -> int:
    proc = spawn_logged(cmd, log_file, env)
    pid_file.write_text(str(proc.pid))
    return proc.pid


def _stop(pid_file: Path, name: str, timeout_s: float = 20) -> bool:
    pid = _pid_alive(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _pid_alive(pid_file):
        time.sleep(0.2)
    if _pid_alive(pid_file):
        log("engine_kill", engine=name, pid=pid)
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return True


# ---------------------------------------------------------------- kafka


def fetch_kafka(cfg: EngineConfig) -> Path:
    """Resolve the broker's runtime classpath from Maven Central with mvn (cached)."""
    target = cfg.kafka_jars
    marker = target / ".complete"
    if marker.exists():
        return target
    if shutil.which("mvn") is None:
        raise RuntimeError("mvn not found: install Maven (Debian package 'maven') to fetch the Kafka jars")
    target.mkdir(parents=True, exist_ok=True)
    log("kafka_fetch", version=_kafka_version(), into=str(target))
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(KAFKA_POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={target}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    marker.write_text(_kafka_version())
    return target


def spark_kafka_version() -> str:
    """Version of Spark's Kafka connector resolved by ``spark-kafka-pom.xml``."""
    text = SPARK_KAFKA_POM.read_text(encoding="utf-8")
    return text.split("<spark.version>", 1)[1].split("</spark.version>", 1)[0].strip()


def spark_kafka_jars_dir(cfg: EngineConfig | None = None) -> Path:
    cfg = cfg or EngineConfig()
    return cfg.jar_cache / f"spark-kafka-{spark_kafka_version()}"


def _spark_pom_digest() -> str:
    import hashlib

    return hashlib.sha256(SPARK_KAFKA_POM.read_bytes()).hexdigest()[:16]


def fetch_spark_kafka(cfg: EngineConfig | None = None) -> list[Path]:
    """Resolve Spark's connectors (spark-sql-kafka-0-10, spark-avro) and their dependencies from
    Maven Central with mvn (cached); return the jar paths for ``spark.jars``. The cache is
    resolved again when ``spark-kafka-pom.xml`` changes (its digest is the completion marker)."""
    target = spark_kafka_jars_dir(cfg)
    marker = target / ".complete"
    digest = f"{spark_kafka_version()} {_spark_pom_digest()}"
    if not marker.exists() or marker.read_text().strip() != digest:
        if shutil.which("mvn") is None:
            raise RuntimeError("mvn not found: install Maven (Debian package 'maven') to fetch the Spark jars")
        target.mkdir(parents=True, exist_ok=True)
        log("spark_kafka_fetch", version=spark_kafka_version(), into=str(target))
        subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(SPARK_KAFKA_POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={target}",
                "-DincludeScope=runtime",
            ],
            check=True,
        )
        marker.write_text(digest)
    return sorted(target.glob("*.jar"))


def _kafka_properties(cfg: EngineConfig) -> Path:
    kdir = cfg.state_dir / "kafka"
    kdir.mkdir(parents=True, exist_ok=True)
    props = kdir / "server.properties"
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers=127.0.0.1:{cfg.kafka_controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port},CONTROLLER://127.0.0.1:{cfg.kafka_controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={kdir / 'data'}",
                "num.partitions=1",
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "log.segment.bytes=16777216",
                "",
            ]
        )
    )
    (kdir / "log4j2.properties").write_text(
        "\n".join(
            [
                "status = warn",
                "appender.out.type = Console",
                "appender.out.name = OUT",
                "appender.out.layout.type = PatternLayout",
                "appender.out.layout.pattern = [%d] %p %m (%c)%n",
                "rootLogger.level = warn",
                "rootLogger.appenderRef.out.ref = OUT",
                "logger.server.name = kafka.server",
                "logger.server.level = info",
                "",
            ]
        )
    )
    return props


def _java(cfg: EngineConfig, main: str, *args: str) -> list[str]:
    kdir = cfg.state_dir / "kafka"
    return [
        "java",
        f"-Xmx{cfg.kafka_heap}",
        f"-Xms{cfg.kafka_heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={kdir / 'log4j2.properties'}",
        "-cp",
        f"{cfg.kafka_jars}/*",
        main,
        *args,
    ]


def kafka_ready(cfg: EngineConfig) -> bool:
    if not port_open(cfg.kafka_port):
        return False
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({"bootstrap.servers": cfg.kafka_bootstrap}).list_topics(timeout=2)
    except Exception:  # KafkaException while the broker is still starting
        return False
    return True


def start_kafka(cfg: EngineConfig) -> str:
    pid_file = cfg.state_dir / "kafka.pid"
    if _pid_alive(pid_file) and kafka_ready(cfg):
        return "running"
    if port_open(cfg.kafka_port):
        if kafka_ready(cfg):
            return "running (not ours)"
        raise RuntimeError(f"port {cfg.kafka_port} is taken by something that is not Kafka; set AA_KAFKA_PORT")
    fetch_kafka(cfg)
    props = _kafka_properties(cfg)
    data = cfg.state_dir / "kafka" / "data"
    if not (data / "meta.properties").exists():
        cluster_id = str(uuid.uuid4())
        subprocess.run(
            _java(
                cfg,
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={_kafka_cluster_id(cluster_id)}",
                "-c",
                str(props),
                "--standalone",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    log_file = cfg.logs / "kafka.log"
    _spawn(_java(cfg, "kafka.Kafka", str(props)), log_file, pid_file)
    wait_until(lambda: kafka_ready(cfg), "kafka", 90, log_file)
    return "started"


def _kafka_cluster_id(seed: str) -> str:
    """Kafka cluster ids are 16 random bytes in URL-safe base64 without padding."""
    import base64

    # Like Kafka's own Uuid.randomUuid: never one that starts with "-" (it would read as an option).
    value = uuid.UUID(seed)
    while (text := base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")).startswith("-"):
        value = uuid.uuid4()
    return text


# ---------------------------------------------------------------- redis, moto


def redis_ready(cfg: EngineConfig) -> bool:
    if not port_open(cfg.redis_port):
        return False
    import redis

    try:
        return bool(redis.Redis(port=cfg.redis_port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start_redis(cfg: EngineConfig) -> str:
    if redis_ready(cfg):
        return "running"
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: install the Debian package 'redis-server' (make bootstrap)")
    cfg.logs.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(cfg.redis_port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--protected-mode",
            "yes",
            "--pidfile",
            str(cfg.state_dir / "redis.pid"),
            "--logfile",
            str(cfg.logs / "redis.log"),
            "--dir",
            str(cfg.state_dir),
        ],
        check=True,
    )
    wait_until(lambda: redis_ready(cfg), "redis", 20, cfg.logs / "redis.log")
    return "started"


def moto_ready(cfg: EngineConfig) -> bool:
    if not port_open(cfg.moto_port):
        return False
    import urllib.request

    try:
        with urllib.request.urlopen(f"{cfg.moto_url}/moto-api/data.json", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def start_moto(cfg: EngineConfig) -> str:
    if moto_ready(cfg):
        return "running"
    log_file = cfg.logs / "moto.log"
    _spawn(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(cfg.moto_port)],
        log_file,
        cfg.state_dir / "moto.pid",
    )
    wait_until(lambda: moto_ready(cfg), "moto", 30, log_file)
    return "started"


# ---------------------------------------------------------------- commands


ENGINES = ("kafka", "redis", "moto")


def up(cfg: EngineConfig | None = None) -> dict[str, str]:
    cfg = cfg or EngineConfig()
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, str] = {}
    for name, start in (("redis", start_redis), ("moto", start_moto), ("kafka", start_kafka)):
        t0 = time.monotonic()
        result[name] = start(cfg)
        log("engine_up", engine=name, state=result[name], seconds=round(time.monotonic() - t0, 2))
    return result


def down(cfg: EngineConfig | None = None) -> dict[str, bool]:
    cfg = cfg or EngineConfig()
    stopped = {name: _stop(cfg.state_dir / f"{name}.pid", name) for name in ENGINES}
    for name, was in stopped.items():
        log("engine_down", engine=name, stopped=was)
    if _pid_alive(cfg.state_dir / "kafka.pid") is None:
        # The local engines are scratch engines: moto's registry and Redis keep nothing across a
        # restart, so Kafka must not either (its records would name schema versions nobody knows).
        shutil.rmtree(cfg.state_dir / "kafka" / "data", ignore_errors=True)
    return stopped


def status(cfg: EngineConfig | None = None) -> dict[str, dict[str, object]]:
    cfg = cfg or EngineConfig()
    checks = {
        "kafka": (cfg.kafka_port, kafka_ready),
        "redis": (cfg.redis_port, redis_ready),
        "moto": (cfg.moto_port, moto_ready),
    }
    return {
        name: {"pid": _pid_alive(cfg.state_dir / f"{name}.pid"), "port": port, "ready": ready(cfg)}
        for name, (port, ready) in checks.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.local.engines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["fetch", "fetch-spark-kafka", "up", "down", "status", "env"])
    args = parser.parse_args(argv)
    cfg = EngineConfig()
    if args.command == "fetch":
        print(fetch_kafka(cfg))
    elif args.command == "fetch-spark-kafka":
        fetch_spark_kafka(cfg)
        print(spark_kafka_jars_dir(cfg))
    elif args.command == "up":
        up(cfg)
        print(f"engines up; logs in {cfg.logs}")
        for k, v in cfg.env().items():
            print(f"export {k}={v}")
    elif args.command == "down":
        down(cfg)
    elif args.command == "env":
        for k, v in cfg.env().items():
            print(f"export {k}={v}")
    else:
        rows = status(cfg)
        print(f"{'engine':<8}{'pid':>9}{'port':>7}  ready")
        for name, row in rows.items():
            print(f"{name:<8}{row['pid'] or '-':>9}{row['port']:>7}  {'yes' if row['ready'] else 'no'}")
        return 0 if all(r["ready"] for r in rows.values()) else 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
