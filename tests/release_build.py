# SPDX-License-Identifier: Apache-2.0
"""Build the release artefacts once per test session: sdist, wheels, and a fresh venv holding the wheel.

``python -m build --wheel`` makes the wheel a release uploads next to the sdist; plain ``python -m build``
makes the sdist and a second wheel from it (what pip does when it falls back to the sdist). As soon as
the first wheel exists, a fresh venv installs it with the ``demo`` extra while the sdist still builds.
Under ``pytest -n 2`` both workers may ask for this: the first builds under a file lock, the other waits
and reads the same results, so nothing is built twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Each step's own ceiling; pip resolving and downloading the demo extra is the slow one.
STEP_TIMEOUT = 420.0


@dataclass(frozen=True)
class Step:
    """One command's outcome: exit code (None: timed out) and its combined output."""

    returncode: int | None
    output: str

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.returncode == 0


@dataclass(frozen=True)
class Release:
    """Where the artefacts are and how each step went."""

    directory: str
    build_wheel: Step
    build_sdist: Step
    venv: Step
    install: Step

    def only(self, subdirectory: str, pattern: str) -> Path:
        """The single file matching ``pattern`` in one output directory."""
        (found,) = sorted((Path(self.directory) / subdirectory).glob(pattern))
        return found

    @property
    def python(self) -> Path:
        """The fresh venv's interpreter."""
        return Path(self.directory) / "venv" / "bin" / "python"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without this checkout on the path, a venv, or telemetry settings.

    pip's own settings (index, proxy, certificates) stay: they describe the machine, not the checkout.
    """
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONSAFEPATH")
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith(("OTEL_", "LLMPERF_"))}
    env.update(extra)
    return env


def _start(command: list[str], log: Path, cwd: Path) -> tuple[subprocess.Popen[bytes], Path]:
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=cwd, env=clean_env(), stdout=sink, stderr=subprocess.STDOUT)
    return process, log


def _finish(started: tuple[subprocess.Popen[bytes], Path]) -> Step:
    process, log = started
    try:
        code: int | None = process.wait(timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
        code = None
    return Step(code, log.read_text(encoding="utf-8", errors="replace"))


def _skipped(why: str) -> Step:
    return Step(-1, why)


def build_release(out: Path) -> Release:
    """Build everything into ``out``; a failed step is recorded, never raised, so each test reports its own."""
    work = out / "cwd"  # never the checkout: nothing may come from the repository's sources by accident
    work.mkdir(parents=True)
    python = sys.executable
    direct = _start([python, "-m", "build", "--wheel", "-o", str(out / "direct"), str(ROOT)], out / "wheel.log", work)
    via_sdist = _start([python, "-m", "build", "-o", str(out / "sdist"), str(ROOT)], out / "sdist.log", work)
    build_wheel = _finish(direct)
    if build_wheel.ok:
        venv = _finish(_start([python, "-m", "venv", str(out / "venv")], out / "venv.log", work))
    else:
        venv = _skipped("no wheel was built")
    if venv.ok:
        (wheel,) = (out / "direct").glob("*.whl")
        # --no-compile: byte-compiling every module of six SDKs costs ~30 s; Python compiles what runs.
        pip = [str(out / "venv" / "bin" / "python"), "-m", "pip", "install", "--no-compile", f"{wheel}[demo]"]
        install = _finish(_start(pip, out / "install.log", work))
    else:
        install = _skipped("no venv was made")
    return Release(str(out), build_wheel, _finish(via_sdist), venv, install)


def _load(path: Path) -> Release:
    data = json.loads(path.read_text(encoding="utf-8"))
    steps = {name: Step(**data[name]) for name in ("build_wheel", "build_sdist", "venv", "install")}
    return Release(data["directory"], **steps)


def shared_release(session_root: Path) -> Release:
    """The session's release, built by whichever worker asks first."""
    out = session_root / "release"
    record = session_root / "release.json"
    with (session_root / "release.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not record.exists():
            record.write_text(json.dumps(asdict(build_release(out))), encoding="utf-8")
    return _load(record)
