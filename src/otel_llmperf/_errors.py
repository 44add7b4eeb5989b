# SPDX-License-Identifier: Apache-2.0
"""Reporting of otel-llmperf's own failures: logged once, never raised into the application."""

from __future__ import annotations

import logging
import threading

_logger = logging.getLogger("otel_llmperf")
_seen: set[str] = set()
_lock = threading.Lock()


def report(where: str, error: BaseException) -> None:
    """Log an internal error with its traceback the first time per place, at debug level after."""
    with _lock:
        first = where not in _seen
        _seen.add(where)
    if first:
        _logger.warning(
            "otel-llmperf internal error in %s; the call goes on, telemetry for it may be incomplete "
            "(further errors here are logged at DEBUG)",
            where,
            exc_info=error,
        )
    else:
        _logger.debug("otel-llmperf internal error in %s", where, exc_info=error)
