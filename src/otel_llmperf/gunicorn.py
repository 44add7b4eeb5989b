# SPDX-License-Identifier: Apache-2.0
"""gunicorn server hooks for the multi-process Prometheus endpoint: ``gunicorn -c python:otel_llmperf.gunicorn``.

Or import them into your own config file: ``from otel_llmperf.gunicorn import on_starting, worker_exit``.
``on_starting`` (master, once) wipes ``OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR`` so a new run
does not add the last run's totals; ``worker_exit`` (worker) writes its file a last time, in
case the process ends without running ``atexit`` handlers.
"""

from __future__ import annotations

import os
from typing import Any

from otel_llmperf.environment_variables import OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR


def on_starting(server: Any) -> None:
    """Wipe the multi-process directory before the first worker starts."""
    from otel_llmperf.prometheus_multiproc import wipe

    directory = os.environ.get(OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR, "").strip()
    if directory and os.path.isdir(directory):
        wipe(directory)


def worker_exit(server: Any, worker: Any) -> None:
    """Write this worker's series file before it exits."""
    import sys

    if "otel_llmperf.prometheus" in sys.modules:  # nothing to write in a worker that never built the endpoint
        sys.modules["otel_llmperf.prometheus"].write_all()
