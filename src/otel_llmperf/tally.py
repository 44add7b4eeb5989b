# SPDX-License-Identifier: Apache-2.0
"""What one OTLP pipeline otel-llmperf built was given and delivered, for the drop line at exit.

A :class:`Tally` per OTLP exporter counts the items handed in (spans ended, events emitted,
metric exports started), delivered and failed (see :mod:`otel_llmperf.counted`); the rest are
queued or in flight. It also knows the threads that export, so that while shutting down their
SDK log records (retry warnings, errors, each saying again what the one drop line says) can be
dropped by :func:`quiet_sdk_loggers`'s filter, which touches no other thread.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any

# Loggers of the SDK, its exporters and their HTTP/gRPC clients, found by name when shutdown
# begins (a filter on a logger sees only records made on that very logger, not its children's).
_SDK_LOGGER_PREFIXES = ("opentelemetry", "urllib3", "requests", "grpc")

# Threads shutting down our pipelines: ours, and the SDK's that export for them.
quiet_threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


class _QuietDuringShutdown(logging.Filter):
    """Drop records made by a thread that is shutting down our exporters."""

    def filter(self, record: logging.LogRecord) -> bool:
        return threading.current_thread() not in quiet_threads


_QUIET = _QuietDuringShutdown()


def quiet_sdk_loggers() -> None:
    """Filter every SDK logger, so records from :data:`quiet_threads` go nowhere."""
    # Filtered, never logged through: these are the SDK's loggers, not ours.
    for name, found in list(logging.root.manager.loggerDict.items()):
        if isinstance(found, logging.Logger) and name.startswith(_SDK_LOGGER_PREFIXES) and _QUIET not in found.filters:
            found.addFilter(_QUIET)


def _endpoint_base(endpoint: str) -> str:
    # One Collector serves three signal paths; name it once.
    for path in ("/v1/traces", "/v1/metrics", "/v1/logs"):
        if endpoint.endswith(path):
            return endpoint[: -len(path)]
    return endpoint


class Tally:
    """One OTLP exporter's items: handed in, delivered, failed; and the exporter to stop.

    ``noun`` names an item in the drop line: a span, an event, or for metrics one export (a
    collection of every metric). ``final_export`` marks a periodic metric reader, which makes
    one more export at shutdown that is lost if the shutdown never reaches it.
    """

    def __init__(self, noun: str, exporter: Any, final_export: bool = False) -> None:
        self.noun = noun
        self.exporter = exporter
        self.endpoint = _endpoint_base(str(getattr(exporter, "_endpoint", None) or "(the exporter's default)"))
        self.final_export = final_export
        self._lock = threading.Lock()
        self.received = 0
        self.delivered = 0
        self.failed = 0
        self._failed_before_close = 0
        self._exports_since_close = 0
        self.closing = False
        self._stopped = False
        self._threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
        _all_tallies.add(self)

    def _forked(self) -> None:
        # The SDK empties a forked child's queues and starts its threads anew: so do the counts.
        self._lock = threading.Lock()
        self.received = self.delivered = self.failed = 0
        self._failed_before_close = self._exports_since_close = 0
        self._threads = weakref.WeakSet()

    def receive(self, count: int = 1) -> None:
        """``count`` items entered the pipeline (a span ended, an event was emitted)."""
        with self._lock:
            self.received += count

    def exporting(self, count: int) -> None:
        """The current thread hands a batch to the exporter (a metric export counts as received here)."""
        thread = threading.current_thread()
        with self._lock:
            self._threads.add(thread)
            if self.final_export:
                self.received += count
            if self.closing:
                self._exports_since_close += 1
                quiet_threads.add(thread)

    def settled(self, count: int, delivered: bool) -> None:
        """The exporter returned for a batch of ``count`` items."""
        with self._lock:
            if delivered:
                self.delivered += count
            else:
                self.failed += count

    def close(self, timeout: float) -> None:
        """Shutdown begins: quiet the threads that export, and cap the exporter's timeout at ``timeout``."""
        with self._lock:
            self.closing = True
            self._failed_before_close = self.failed
            quiet_threads.update(self._threads)
        cap_timeout(self.exporter, timeout)

    def dropped(self, finished: bool) -> int:
        """Items not delivered since shutdown began: still queued or in flight, or failed since."""
        with self._lock:
            pending = self.received - self.delivered - self.failed
            lost = max(pending, 0) + self.failed - self._failed_before_close
            if self.final_export and not finished and self._exports_since_close == 0:
                lost += 1  # the final collection never reached the exporter
            return lost

    def stop(self, **kwargs: Any) -> None:
        """Shut the exporter down, once (the SDK's shutdown and our abort may both ask)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.exporter.shutdown(**kwargs)


_all_tallies: weakref.WeakSet[Tally] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for tally in list(_all_tallies):
        tally._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def cap_timeout(exporter: Any, seconds: float) -> None:
    # The SDK has no public way to shorten a built exporter's timeout (it covers its retries).
    # Without this the deadline still holds; exports begun after it would only last longer.
    owners: tuple[Any, ...] = (getattr(exporter, "_client", None), exporter)
    for owner in owners:
        current = getattr(owner, "_timeout", None)
        if isinstance(current, (int, float)) and not isinstance(current, bool):
            try:
                owner._timeout = min(float(current), max(seconds, 0.001))
            except Exception:  # a frozen or changed SDK object: the deadline still bounds the exit
                return
            return
