# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf stack prometheus``: the stack without Docker, on the local Prometheus and Alertmanager.

It writes a Prometheus config derived from the shipped one (scrape the app's /metrics, load the shipped
rules, alert to the local Alertmanager with the shipped ``alertmanager.yml``), starts both binaries on
127.0.0.1, waits until they are ready and runs until Ctrl-C or SIGTERM, then stops both.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from otel_llmperf.stack_files import ALERTMANAGER_CONFIG, PROMETHEUS_CONFIG, RULE_GLOB, RULES_DIR, packaged_path

PROG = "otel-llmperf stack prometheus"
DEFAULT_DIR = "otel-llmperf-local"
DEFAULT_TARGET = "127.0.0.1:9464"
DEFAULT_JOB = "otel-llmperf-demo"  # the demo's service name; name a job after the app's OTEL_SERVICE_NAME
# Debian names Alertmanager's binary prometheus-alertmanager; upstream calls it alertmanager.
ALERTMANAGER_NAMES = ("prometheus-alertmanager", "alertmanager")
INSTALL_HINT = (
    "install them: apt install prometheus prometheus-alertmanager (Debian, Ubuntu), or download both from "
    "https://prometheus.io/download/ and put them on PATH"
)
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class LocalStackError(Exception):
    """The local stack cannot start; the message says what to do."""


@dataclass(frozen=True)
class Target:
    """A scrape target and the job it is stored under."""

    job: str
    address: str


def parse_target(text: str) -> Target:
    """``[JOB=]HOST:PORT``; without ``JOB=`` the job is empty (``--job`` fills it in)."""
    job, _, address = text.rpartition("=")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not [JOB=]HOST:PORT")
    return Target(job, address)


def find_binaries() -> tuple[str, str]:
    """Paths of prometheus and Alertmanager on PATH, or a LocalStackError saying how to get them."""
    prometheus = shutil.which("prometheus")
    alertmanager = next((found for name in ALERTMANAGER_NAMES if (found := shutil.which(name))), None)
    missing = [name for name, found in (("prometheus", prometheus), ("alertmanager", alertmanager)) if not found]
    if prometheus is None or alertmanager is None:
        raise LocalStackError(f"{' and '.join(missing)} not found on PATH; {INSTALL_HINT}")
    return prometheus, alertmanager


def prometheus_config(
    targets: Sequence[Target], rules: Path, port: int, alertmanager_port: int, interval: str | None
) -> dict[str, Any]:
    """The shipped prometheus.yml, made local: loopback targets, these rules, the local Alertmanager."""
    config: dict[str, Any] = yaml.safe_load(packaged_path(PROMETHEUS_CONFIG).read_text(encoding="utf-8"))
    config.pop("otlp", None)  # Prometheus 3 only (Debian ships 2.x), and this route scrapes
    if interval is not None:
        config["global"] = {**config.get("global", {}), "scrape_interval": interval, "evaluation_interval": interval}
    config["rule_files"] = [str(rules / RULE_GLOB)]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]}
    jobs: dict[str, list[str]] = {}
    for target in targets:
        jobs.setdefault(target.job, []).append(target.address)
    config["scrape_configs"] = [
        {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
        *({"job_name": job, "static_configs": [{"targets": addresses}]} for job, addresses in jobs.items()),
    ]
    return config


@dataclass
class Server:
    """A binary this command started: stopped by PID, its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; reaped."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)

    def tail(self) -> str:
        """The end of its log."""
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return ""


def _start(name: str, argv: list[str], log: Path) -> Server:
    with log.open("wb") as stream:
        # A session of its own: Ctrl-C reaches this command, which then stops both in order.
        process = subprocess.Popen(argv, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True)
    return Server(name, process, log)


def _wait_ready(server: Server, url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise LocalStackError(f"{server.name} exited ({server.process.returncode}); {server.log}:\n{server.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise LocalStackError(f"{server.name} not ready at {url} within {READY_TIMEOUT:g} s; see {server.log}")


class _Stop:
    """Set by SIGINT or SIGTERM."""

    requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def serve(args: argparse.Namespace) -> int:
    """Start both, print where they are, and run until asked to stop."""
    prometheus_bin, alertmanager_bin = find_binaries()
    work = Path(args.dir).resolve()
    source = Path(args.stack) if args.stack else None
    rules = (source / RULES_DIR) if source else packaged_path(RULES_DIR)
    alertmanager_yml = (source / ALERTMANAGER_CONFIG) if source else packaged_path(ALERTMANAGER_CONFIG)
    for needed in (rules, alertmanager_yml):
        if not needed.exists():
            raise LocalStackError(f"{needed} does not exist (is --stack a directory written by `stack init`?)")
    work.mkdir(parents=True, exist_ok=True)
    targets = [
        Target(target.job or args.job, target.address) for target in args.target or [parse_target(DEFAULT_TARGET)]
    ]
    config = prometheus_config(targets, rules.resolve(), args.port, args.alertmanager_port, args.scrape_interval)
    config_file = work / "prometheus.yml"
    config_file.write_text(
        "# Written by otel-llmperf stack prometheus from the shipped prometheus.yml; rewritten at each start.\n"
        + yaml.safe_dump(config, sort_keys=False),
        encoding="utf-8",
    )
    prometheus_url = f"http://127.0.0.1:{args.port}"
    alertmanager_url = f"http://127.0.0.1:{args.alertmanager_port}"
    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    servers: list[Server] = []
    try:
        servers.append(_start("alertmanager", [
            alertmanager_bin, f"--config.file={alertmanager_yml.resolve()}", f"--storage.path={work / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{args.alertmanager_port}", "--cluster.listen-address=",
            f"--web.external-url={alertmanager_url}",
        ], work / "alertmanager.log"))  # fmt: skip
        servers.append(_start("prometheus", [
            prometheus_bin, f"--config.file={config_file}", f"--storage.tsdb.path={work / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{args.port}", "--storage.tsdb.retention.time=35d",
            "--enable-feature=exemplar-storage", "--web.enable-lifecycle", f"--web.external-url={prometheus_url}",
        ], work / "prometheus.log"))  # fmt: skip
        _wait_ready(servers[0], f"{alertmanager_url}/-/ready")
        _wait_ready(servers[1], f"{prometheus_url}/-/ready")
        scraped = ", ".join(f"{target.address} (job {target.job})" for target in targets)
        print(
            f"Prometheus   {prometheus_url}  scraping {scraped}; targets: {prometheus_url}/targets\n"
            f"Alertmanager {alertmanager_url}\n"
            f"Data and logs in {work}. Ctrl-C stops both.\n"
            "Start an app with its Prometheus endpoint (e.g. otel-llmperf demo), then report:\n"
            f"  otel-llmperf report --prometheus {prometheus_url} --range 15m --step 30s",
            flush=True,
        )
        while not stop.requested:
            for server in servers:
                if server.process.poll() is not None:
                    raise LocalStackError(f"{server.name} stopped ({server.process.returncode}):\n{server.tail()}")
            time.sleep(0.2)
        print("stopping Prometheus and Alertmanager", flush=True)
        return 0
    finally:
        for server in reversed(servers):
            server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def add_cli(stack: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``stack prometheus [--dir D] [--target [JOB=]HOST:PORT ...] [--port P] [--alertmanager-port P]``."""
    parser = stack.add_parser(
        "prometheus",
        help="no Docker: run the local prometheus and alertmanager with the shipped configs and rules",
        description="Run the prometheus and alertmanager binaries on PATH, bound to 127.0.0.1, with the shipped "
        "rules and alertmanager.yml, scraping an app's /metrics. Runs until Ctrl-C.",
    )
    parser.add_argument("--dir", default=DEFAULT_DIR, help=f"config, data and logs (default: ./{DEFAULT_DIR})")
    parser.add_argument("--job", default=DEFAULT_JOB, help=f"job of targets without JOB= (default: {DEFAULT_JOB})")
    parser.add_argument("--target", action="append", metavar="[JOB=]HOST:PORT", type=parse_target,
                        help=f"an app's Prometheus endpoint; repeatable (default: {DEFAULT_TARGET})")  # fmt: skip
    parser.add_argument("--port", type=int, default=9090, help="Prometheus port (default: 9090)")
    parser.add_argument("--alertmanager-port", type=int, default=9093, help="Alertmanager port (default: 9093)")
    parser.add_argument("--scrape-interval", metavar="D", help="scrape and rule interval (default: the shipped 15s)")
    parser.add_argument("--stack", metavar="DIR", help="take rules and alertmanager.yml from a `stack init` DIR")


def run(args: argparse.Namespace) -> int:
    """Run ``stack prometheus``: 0 after a clean stop, 1 when it cannot start or a server dies."""
    try:
        return serve(args)
    except (LocalStackError, OSError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
