# SPDX-License-Identifier: Apache-2.0
"""The telemetry boundary: where otel-llmperf meets code it does not own, errors stop.

Two kinds of foreign code run inside an application's LLM call because of us: the OpenTelemetry
SDK's hooks (span processors on start and end, exporters behind them, instruments and their
exemplar filters, log record processors) and the application's logging handlers. Either may
raise. Neither may turn a working call into a failing one, or replace the SDK's or the caller's
own exception. So:

* every call of ours into the SDK at the start and end of an LLM call is guarded and names its
  :class:`Boundary` (``except Exception as error: SPAN_END.caught(error)``), each on its own, so
  a broken span processor costs the span, not the metrics, and the call goes on;
* building the SDK's providers and exporters never raises either (see :mod:`otel_llmperf.setup`);
* every module logs through :func:`logger`, whose records never raise, whatever the handlers do;
* :func:`report` (our own failures) never raises.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from typing import Any

_seen: set[str] = set()
_lock = threading.Lock()
_handler_failed = False


class SafeLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger whose records never raise into the caller, even from a handler that raises.

    ``Logger.callHandlers`` does not catch what a handler's ``emit`` (or a filter) raises; the
    adapter does, and drops that record. Everything else (levels, handlers, ``extra``,
    ``exc_info``) is the wrapped logger's.
    """

    def __init__(self, wrapped: logging.Logger) -> None:
        super().__init__(wrapped, None)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Log like ``Logger.log``; an error raised by a handler is swallowed (noted once on stderr)."""
        try:
            if self.logger.isEnabledFor(level):
                # Attribute the record to our caller, not to this method.
                kwargs.setdefault("stacklevel", 2)
                self.logger.log(level, msg, *args, **kwargs)
        except Exception as error:
            _note_handler_failure(self.logger.name, error)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        """Leave ``extra`` as the caller gave it (the base class would replace it)."""
        return msg, kwargs


def logger(name: str) -> SafeLogger:
    """The safe logger for ``name``: what every otel-llmperf module logs through."""
    return SafeLogger(logging.getLogger(name))


def _note_handler_failure(name: str, error: Exception) -> None:
    # Logging about a failing handler would go to that handler again: tell stderr, once.
    global _handler_failed
    if _handler_failed:
        return
    _handler_failed = True
    with contextlib.suppress(Exception):  # no stderr left: nowhere to say it
        sys.stderr.write(
            f"otel-llmperf: a logging handler of {name!r} raised {type(error).__name__}: {error}; "
            "its otel-llmperf records are dropped, the application goes on\n"
        )


_logger = logger("otel_llmperf")


def report(where: str, error: BaseException) -> None:
    """Log an internal error with its traceback the first time per place, at debug level after."""
    try:
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
    except Exception:  # reporting must never be what breaks the call
        return


class Boundary:
    """A named place where our code calls into the OpenTelemetry SDK.

    Call sites are ``try: <SDK call> except Exception as error: BOUNDARY.caught(error)``: a
    ``try`` costs nothing on the hot path (a ``with`` block would cost ~250 ns a call), and
    ``BaseException`` (``KeyboardInterrupt``, task cancellation) goes through untouched.
    """

    __slots__ = ("where",)

    def __init__(self, where: str) -> None:
        self.where = where

    def caught(self, error: Exception) -> None:
        """Report ``error`` raised at this place (once at WARNING, then at DEBUG); the call goes on."""
        report(self.where, error)


SPAN_START = Boundary("starting a span (a span processor's on_start)")
SPAN_END = Boundary("ending a span (a span processor's or exporter's on_end)")
SPAN_UPDATE = Boundary("setting a span's end attributes")
METRICS = Boundary("recording a metric (the meter provider's instruments)")
EVENTS = Boundary("emitting an event (the logger provider's processors)")
CALL_LOG = Boundary("writing the call log")
