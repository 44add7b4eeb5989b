# SPDX-License-Identifier: Apache-2.0
"""Multi-process mode under real gunicorn: 4 workers, restarted and killed, one endpoint with exact totals."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fakeserver import FakeServerProcess
from otel_llmperf.environment_variables import OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR
from stack import Process, free_port

DEADLINE = 30.0
INTERVAL_MS = 200
PAGE = Path(__file__).resolve().parent.parent / "docs" / "scaling-out.md"


def documented_arguments() -> list[str]:
    """The gunicorn options docs/scaling-out.md shows, between ``gunicorn`` and the reader's own app."""
    page = PAGE.read_text(encoding="utf-8")
    block = page.split("<!-- run by: tests/test_gunicorn_multiproc.py -->", 1)[1].split("```bash\n", 1)[1]
    export, command = block.split("```", 1)[0].strip().splitlines()
    # The page names the variable the fixture sets; its directory is the reader's, the fixture's is tmp.
    assert shlex.split(export, comments=True)[:2] == [
        "export",
        f"{OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR}=/run/myapp/llmperf",
    ]
    words = shlex.split(command, comments=True)
    assert words[0] == "gunicorn" and words[-1] == "myapp:app", command
    return words[1:-1]


class Gunicorn:
    """gunicorn running tests/gunicorn_app.py, its Prometheus port, and the calls made through it."""

    def __init__(self, process: Process, app_port: int, metrics_port: int) -> None:
        self.process, self.app_port, self.metrics_port = process, app_port, metrics_port
        self.calls = self.input_tokens = self.output_tokens = 0

    def get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.app_port}{path}", timeout=DEADLINE) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def call(self, times: int) -> list[int]:
        """Make ``times`` LLM calls through the app; the pid of the worker of each."""
        pids = []
        for _ in range(times):
            answer = self.get("/call")
            self.calls += 1
            self.input_tokens += answer["input"]
            self.output_tokens += answer["output"]
            pids.append(answer["pid"])
        return pids

    def worker(self, serving: bool) -> int:
        """The pid of a worker that does (or does not) hold the Prometheus port (bounded search)."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            answer = self.get("/whoami")
            if answer["serving"] == serving and answer["pid"] != self.process.pid:
                return int(answer["pid"])
            time.sleep(0.05)
        raise AssertionError(f"no worker with serving={serving} within {DEADLINE} s")

    def totals(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as response:
            families = {f.name: f for f in text_string_to_metric_families(response.read().decode())}

        def total(family: str, sample: str, **where: str) -> float:
            found = families.get(family)
            return sum(
                s.value
                for s in (found.samples if found else [])
                if s.name == sample and all(s.labels.get(k) == v for k, v in where.items())
            )

        usage = "gen_ai_client_token_usage"
        return {
            "calls": total(
                "gen_ai_client_operation_duration_seconds", "gen_ai_client_operation_duration_seconds_count"
            ),
            "input": total(usage, f"{usage}_sum", gen_ai_token_type="input"),
            "output": total(usage, f"{usage}_sum", gen_ai_token_type="output"),
            "usage_counts": total(usage, f"{usage}_count"),
            "cost": total("llmperf_usage_cost_USD", "llmperf_usage_cost_USD_total"),
        }

    def expected(self) -> dict[str, float]:
        return {
            "calls": self.calls,
            "input": self.input_tokens,
            "output": self.output_tokens,
            "usage_counts": 2 * self.calls,
            "cost": (self.input_tokens * 1.0 + self.output_tokens * 2.0) / 1e6,
        }

    def settled(self) -> dict[str, float]:
        """The scraped totals once they equal the calls made (each worker writes every interval)."""
        deadline = time.monotonic() + DEADLINE
        seen: dict[str, float] = {}
        while time.monotonic() < deadline:
            try:
                seen = self.totals()
            except OSError:
                seen = {}  # the port between two holders
            if seen and seen.keys() == self.expected().keys() and _equal(seen, self.expected()):
                return seen
            time.sleep(0.1)
        raise AssertionError(
            f"scraped {seen}, made {self.expected()}; log:\n{self.process.log_path.read_text()[-3000:]}"
        )


def _equal(seen: dict[str, float], expected: dict[str, float]) -> bool:
    return all(seen[k] == expected[k] if k != "cost" else abs(seen[k] - expected[k]) < 1e-12 for k in expected)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone(pid: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), pid


@pytest.fixture(name="gunicorn")
def fixture_gunicorn(
    request: pytest.FixtureRequest, tmp_path: Path, fake_server: FakeServerProcess
) -> Iterator[Gunicorn]:
    app_port, metrics_port = free_port(), free_port()
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    (multiproc / "llmperf_1_lastrun.json").write_text("{}")  # the on_starting hook wipes the last run
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "PROMETHEUS_MULTIPROC"))}
    env.update(
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_TRACES_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(metrics_port),
        OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR=str(multiproc),
        OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_INTERVAL=str(INTERVAL_MS),
        LLMPERF_TEST_FAKE_URL=fake_server.base_url,
    )
    # The command of docs/scaling-out.md (4 workers, our hooks), bound to spare ports, on the test app.
    argv = [sys.executable, "-m", "gunicorn", *documented_arguments()]
    argv += ["-b", f"127.0.0.1:{app_port}", "--graceful-timeout", "1", "--pythonpath", str(Path(__file__).parent)]
    argv += [*request.param, "gunicorn_app:app"]
    process = Process(argv, tmp_path / "gunicorn.log", env=env)
    try:
        process.wait_ready(f"http://127.0.0.1:{app_port}/whoami", timeout=2 * DEADLINE)
        yield Gunicorn(process, app_port, metrics_port)
    finally:
        process.stop()
    log = process.log_path.read_text()
    assert "unavailable" not in log and "Traceback" not in log, log[-3000:]
    assert not (multiproc / "llmperf_1_lastrun.json").exists()


@pytest.mark.parametrize(
    "gunicorn", [["--max-requests", "4", "--max-requests-jitter", "2"]], indirect=True, ids=["max-requests"]
)
def test_one_endpoint_sums_every_worker_through_restarts_and_kills(gunicorn: Gunicorn) -> None:
    # A worker serves 4 to 6 requests, so 25 need at least 5 worker processes where 4 run at once:
    # workers retire and respawn meanwhile, whatever the balancing.
    gunicorn.call(25)
    assert gunicorn.settled() == pytest.approx(gunicorn.expected())
    assert "Autorestarting worker" in gunicorn.process.log_path.read_text()

    # SIGTERM: graceful; the worker writes at exit. Once the one serving the port, once another.
    for serving in (False, True):
        pid = gunicorn.worker(serving)
        os.kill(pid, signal.SIGTERM)
        _gone(pid)
        gunicorn.call(7)
        gunicorn.settled()
    assert gunicorn.worker(serving=True)  # another worker took the port over

    # SIGKILL: what a worker wrote before stays; of its calls since its last write (at most one
    # interval's worth) some or all may be lost, never more.
    for _attempt in range(5):
        victim = gunicorn.worker(serving=False)
        gunicorn.settled()
        since = 0
        for _ in range(60):
            since += gunicorn.call(1) == [victim]
            if since == 2:
                break
        try:
            os.kill(victim, signal.SIGKILL)
            break
        except ProcessLookupError:
            continue  # max-requests retired it first (gracefully: nothing lost); pick another
    else:
        raise AssertionError("every victim retired before it could be killed")
    _gone(victim)
    expected = gunicorn.expected()["calls"]
    deadline, seen = time.monotonic() + DEADLINE, 0.0
    while seen < expected - since and time.monotonic() < deadline:
        time.sleep(0.1)
        with contextlib.suppress(OSError):  # max-requests may be retiring the port holder just now
            seen = gunicorn.totals()["calls"]
    assert expected - since <= seen <= expected, (seen, expected, since)


@pytest.mark.parametrize("gunicorn", [["--preload", "-w", "2"]], indirect=True, ids=["preload"])
def test_preloaded_app_master_serves_the_workers_sum(gunicorn: Gunicorn) -> None:
    gunicorn.call(12)
    gunicorn.settled()
    pid = gunicorn.worker(serving=False)
    os.kill(pid, signal.SIGTERM)
    _gone(pid)
    gunicorn.call(6)
    gunicorn.settled()
    for _ in range(8):  # with preload_app the master built the endpoint before forking: no worker serves
        assert not gunicorn.get("/whoami")["serving"]
