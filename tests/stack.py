# SPDX-License-Identifier: Apache-2.0
"""Real Prometheus, promtool and Alertmanager for tests: found, or skipped (failed in CI), run on loopback.

The test command installs Debian's ``prometheus`` and ``prometheus-alertmanager``, each when one of its
binaries is missing. Where a binary is still missing, tests that need it are skipped locally, and fail
when ``LLMPERF_REQUIRE_PROMETHEUS=1`` (set by ``.ci/run``), so CI can never pass by skipping them.
That holds for every binary :func:`binary` finds, not only ``prometheus``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

REQUIRE = "LLMPERF_REQUIRE_PROMETHEUS"
# Debian names Alertmanager's binary prometheus-alertmanager; upstream calls it alertmanager.
NAMES = {"alertmanager": ("prometheus-alertmanager", "alertmanager")}
# The Debian package of each binary tests run (`dpkg -L`): the README's test command installs these.
PACKAGES = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
}


def binary(name: str) -> str:
    """Path of ``name`` (prometheus, promtool, alertmanager, amtool); skip, or fail under CI."""
    for candidate in NAMES.get(name, (name,)):
        found = shutil.which(candidate)
        if found:
            return found
    message = f"{name} is not installed (apt-get install {PACKAGES.get(name, name)})"
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{message}, and {REQUIRE}=1 forbids skipping")
    pytest.skip(message)


def free_port() -> int:
    """A spare TCP port on 127.0.0.1 (released before returning; good enough for tests)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def console_script(name: str = "otel-llmperf") -> str:
    """The package's console script beside this Python (the venv the tests run in)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"the console script {name} is installed with the package"
    return found


def child_env() -> dict[str, str]:
    """This process's environment without OTEL_*: a child configures its own exporters."""
    return {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}


class Process:
    """A server started by a test, stopped by PID (SIGTERM, then SIGKILL) and reaped."""

    def __init__(self, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> None:
        self.log_path = log
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            list(argv), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def wait_ready(self, url: str, timeout: float = 30.0) -> None:
        """Poll ``url`` until it answers 200 (bounded); fail with the server's log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"{url} not ready within {timeout} s; log:\n{self.log_path.read_text()[-4000:]}")

    def stop(self, timeout: float = 10.0) -> None:
        """Kill by PID and reap; idempotent."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        self._log.close()
