# SPDX-License-Identifier: Apache-2.0
"""Bounded shutdown: the providers otel-llmperf built never hold the application's exit hostage.

The SDK's providers each register ``atexit(self.shutdown)`` and shut down one after the other,
each waiting out its exporter's timeout and retries (10 s by default): with the Collector down,
an application's exit took 10 to 30 s and printed up to a dozen SDK log lines. So the providers we
build are created with ``shutdown_on_exit=False`` and handed to an :class:`Owned` here, and one
``atexit`` handler shuts all of them down at once, each in a daemon thread, against one deadline
(``OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT``, 2 s). At the deadline it returns, whatever is still
stuck, and the interpreter exits without those daemon threads. The application's own providers
are never touched.

What was not delivered is counted by a :class:`Tally` per OTLP exporter (items handed in,
delivered, failed) and said in one warning line on the ``otel_llmperf`` logger (on stderr when
the application configured no logging). Meanwhile the SDK's own retry and error lines from the
threads doing that shutdown are filtered out: they would repeat, up to a dozen times, what the
one line says. In normal operation they stay visible: they are the only live sign that the
Collector is unreachable, and they come a few per export (one every 5 s at most per signal by
default), not per call.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from otel_llmperf import _errors
from otel_llmperf.tally import Tally, quiet_sdk_loggers, quiet_threads

_logger = _errors.logger("otel_llmperf")

Part = tuple[Any, list[Tally]]  # a provider and the tallies of its OTLP exporters


class Owned:
    """The providers one set-up built, with the tallies of their OTLP exporters."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.parts: list[Part] = []

    def add(self, provider: Any, tallies: Sequence[Tally] = ()) -> None:
        """Own ``provider``: it is shut down, bounded, at exit or by :meth:`shutdown`."""
        self.parts.append((provider, list(tallies)))
        _live(self)

    def take(self) -> list[Part]:
        """The parts not yet shut down; from now on they are the caller's to shut down."""
        _forget(self)
        parts, self.parts = self.parts, []
        return parts

    def shutdown(self) -> None:
        """Shut down every owned provider within ``timeout`` seconds and say what was dropped."""
        shutdown_bounded(self.take(), self.timeout, "at shutdown")


_registry_lock = threading.Lock()
_live_owned: list[Owned] = []
_registered = False


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()  # a thread holding it did not come along


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _live(owned: Owned) -> None:
    global _registered
    with _registry_lock:
        if owned not in _live_owned:
            _live_owned.append(owned)
        if not _registered:
            atexit.register(_at_exit)
            _registered = True


def _forget(owned: Owned) -> None:
    with _registry_lock:
        if owned in _live_owned:
            _live_owned.remove(owned)


def _at_exit() -> None:
    with _registry_lock:
        owned = list(_live_owned)
    if owned:
        timeout = max(item.timeout for item in owned)
        shutdown_bounded([part for item in owned for part in item.take()], timeout, "at exit")


def _stopper(provider: Any, timeout: float) -> Callable[[], None]:
    def stop() -> None:
        try:
            if "timeout_millis" in inspect.signature(provider.shutdown).parameters:
                provider.shutdown(timeout_millis=timeout * 1000)  # the meter provider splits it over readers
            else:
                provider.shutdown()
        except Exception as error:  # a reader that failed to stop: what it held is counted as dropped
            _logger.debug("otel-llmperf: shutting down %s failed: %r", type(provider).__name__, error)

    return stop


def _start_quiet(target: Callable[[], None]) -> threading.Thread | None:
    thread = threading.Thread(target=target, name="otel-llmperf-shutdown", daemon=True)
    quiet_threads.add(thread)
    try:
        thread.start()
    except RuntimeError:  # the interpreter refuses new threads: nothing can be flushed
        return None
    return thread


def shutdown_bounded(parts: Sequence[Part], timeout: float, when: str) -> None:
    """Shut down the providers of ``parts`` concurrently; return within ``timeout`` seconds, always."""
    if not parts:
        return
    try:
        _shutdown_bounded(parts, timeout, when)
    except Exception as error:  # shutting telemetry down must never break the application's exit
        _errors.report("shutting down the telemetry providers", error)


def _shutdown_bounded(parts: Sequence[Part], timeout: float, when: str) -> None:
    deadline = time.monotonic() + timeout
    quiet_sdk_loggers()
    for _provider, tallies in parts:
        for tally in tallies:
            tally.close(timeout)
    workers = [_start_quiet(_stopper(provider, timeout)) for provider, _tallies in parts]
    for worker in workers:
        if worker is not None:
            worker.join(max(0.0, deadline - time.monotonic()))
    finished = [worker is not None and not worker.is_alive() for worker in workers]
    for done, (_provider, tallies) in zip(finished, parts, strict=True):
        if not done:
            for tally in tallies:
                # Stops retries and closes gRPC channels, so the threads left behind end sooner.
                _start_quiet(functools.partial(_quietly, tally.stop))
    _say_what_was_dropped(parts, finished, timeout, when)


def _quietly(call: Callable[[], None]) -> None:
    try:
        call()
    except Exception:  # an exporter failing to stop after the deadline: nothing left to do
        return


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _say_what_was_dropped(parts: Sequence[Part], finished: Sequence[bool], timeout: float, when: str) -> None:
    by_noun: dict[str, int] = {}
    endpoints: list[str] = []
    for done, (_provider, tallies) in zip(finished, parts, strict=True):
        for tally in tallies:
            lost = tally.dropped(done)
            if lost:
                by_noun[tally.noun] = by_noun.get(tally.noun, 0) + lost
                if tally.endpoint not in endpoints:
                    endpoints.append(tally.endpoint)
    if by_noun:
        _logger.warning(
            "otel-llmperf: %s the OTLP endpoint %s did not take telemetry within %g s; dropped %s",
            when,
            ", ".join(endpoints),
            timeout,
            ", ".join(_plural(count, noun) for noun, count in by_noun.items()),
        )
    elif not all(finished):
        _logger.warning(
            "otel-llmperf: %s the telemetry providers did not finish within %g s; not waiting for them", when, timeout
        )
