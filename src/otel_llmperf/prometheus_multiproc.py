# SPDX-License-Identifier: Apache-2.0
"""The multi-process directory: one file of series per process, summed by whoever serves.

Each process writes ``llmperf_<pid>_<token>.json`` (its cumulative series, exemplars included)
atomically: a temporary file, then a rename, so a reader never sees half a file. The token is
new in every process (and after every fork), so a recycled PID never overwrites an exited
worker's totals. Files of exited processes stay and keep counting, as with prometheus_client's
multiprocess mode; only their gauges are dropped. Wipe the directory between runs
(:func:`wipe`, or the gunicorn ``on_starting`` hook in :mod:`otel_llmperf.gunicorn`).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

from otel_llmperf import _errors
from otel_llmperf.prometheus_families import Snapshot, merge

_logger = _errors.logger("otel_llmperf")
PREFIX = "llmperf_"
SUFFIX = ".json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def wipe(path: str | os.PathLike[str]) -> int:
    """Delete the series files in ``path`` (before a new run); returns how many were removed."""
    removed = 0
    for found in Path(path).glob(f"*{PREFIX}*{SUFFIX}*"):
        try:
            found.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


class Directory:
    """This process's file in the shared directory, and the sum of all files."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._token = secrets.token_hex(6)

    @property
    def own_name(self) -> str:
        """The name of this process's file (changes after a fork)."""
        return f"{PREFIX}{os.getpid()}_{self._token}{SUFFIX}"

    def after_fork(self) -> None:
        """A forked child is a new process: it gets its own file."""
        self._token = secrets.token_hex(6)

    def write(self, taken: Snapshot | None) -> None:
        """Replace this process's file with ``taken`` (``None``: nothing collected, keep the old file)."""
        if taken is None:
            return
        name = self.own_name
        # Per thread: the periodic write and the one at exit may overlap.
        temporary = self.path / f".{name}.{threading.get_ident()}.tmp"
        temporary.write_text(json.dumps({"pid": os.getpid(), "snapshot": taken}, separators=(",", ":")))
        os.replace(temporary, self.path / name)

    def _others(self) -> Iterator[tuple[Snapshot, bool]]:
        own = self.own_name
        for found in sorted(self.path.glob(f"{PREFIX}*{SUFFIX}")):
            if found.name == own:
                continue
            try:
                content = json.loads(found.read_text())
                yield content["snapshot"], _alive(int(content["pid"]))
            except FileNotFoundError:
                continue  # wiped meanwhile
            except (ValueError, KeyError, TypeError, OSError) as error:
                _errors.report(f"reading {found.name} in the Prometheus multi-process directory", error)

    def merged(self, own: Snapshot | None) -> Snapshot:
        """``own`` (this process, fresh) plus every other process's last file."""
        first = [(own, True)] if own is not None else []
        return merge([*first, *self._others()])
