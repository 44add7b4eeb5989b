# SPDX-License-Identifier: Apache-2.0
"""Consent: whether one call's personal data may leave the process (GDPR/CCPA).

Personal data here is a call's content (prompts, completions, tool arguments, system
instructions, on spans and in the call log), feedback comments and evaluation explanations, and
the keyed ``user.hash``. Metrics hold none of these and are always recorded.

The decision for a call, made once when it starts, is the first of:

1. the innermost ``with otel_llmperf.consent(True | False):`` block (or decorated function); it
   follows ``await``, asyncio tasks, threads and pool tasks like ``variant()`` does;
2. the application's callable, ``instrument(consent=callable)``, called with no argument; if it
   raises or returns anything but a bool, there is no consent (and one warning);
3. the default, ``OTEL_PYTHON_LLMPERF_CONSENT_DEFAULT`` (``true``: what content capture and the
   user-id key say is exported, as without consent handling).

The module is named ``consent_policy`` because ``otel_llmperf.consent`` is the public context.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from otel_llmperf import _errors
from otel_llmperf.errors import FeedbackError
from otel_llmperf.labels import short_repr
from otel_llmperf.scopes import ContextScope

_F = TypeVar("_F", bound=Callable[..., Any])

# Carried into threads and pool tasks by otel_llmperf.experiments, with the variant.
CONSENT: ContextVar[bool | None] = ContextVar("otel_llmperf_consent", default=None)
_OUTER: ContextVar[tuple[bool | None, ...]] = ContextVar("otel_llmperf_outer_consents", default=())

_logger = _errors.logger("otel_llmperf")
# Callables already warned about: one warning line per callable, whatever it keeps doing.
_warned: weakref.WeakSet[Any] = weakref.WeakSet()
_warned_ids: set[int] = set()
_warned_lock = threading.Lock()


def explicit() -> bool | None:
    """The decision of the innermost ``consent()`` block here, ``None`` outside every block."""
    return CONSENT.get()


def decide(ask: Callable[[], Any] | None, default: bool) -> bool:
    """This call's decision: the ``consent()`` block, else ``ask()``, else ``default``; never raises."""
    here = CONSENT.get()
    if here is not None:
        return here
    if ask is None:
        return default
    try:
        answer = ask()
    except Exception as error:
        _warn_once(ask, f"raised {type(error).__name__}: {error}", error)
        return False
    if not isinstance(answer, bool):
        _warn_once(ask, f"returned {short_repr(answer)}: it returned {type(answer).__name__}, not a bool", None)
        return False
    return answer


def _warn_once(ask: Callable[[], Any], what: str, error: Exception | None) -> None:
    with _warned_lock:
        try:
            if ask in _warned:
                return
            _warned.add(ask)
        except TypeError:  # not weak-referenceable: remembered by id (never freed: the application's own)
            if id(ask) in _warned_ids:
                return
            _warned_ids.add(id(ask))
    _logger.warning(
        "the consent callable %s %s; no consent assumed for the call (its content, comments and user "
        "hash are not exported; warned once per callable)",
        getattr(ask, "__qualname__", None) or short_repr(ask),
        what,
        exc_info=error,
    )


def decide_later(recorded: bool | None, ask: Callable[[], Any] | None, default: bool) -> bool:
    """The decision for feedback about a call whose own decision was ``recorded`` (``None``: not made).

    A refusal anywhere wins: the call's, or a ``consent(False)`` block around the feedback.
    """
    here = CONSENT.get()
    if recorded is False or here is False:
        return False
    if recorded is True or here is True:
        return True
    return decide(ask, default)


class consent(ContextScope[bool]):
    """Grant (``True``) or withhold (``False``) consent for everything inside; a context manager and a decorator.

    >>> with consent(False):
    ...     pass  # calls and feedback here export no content, comment or user hash
    """

    _var = CONSENT
    _outer = _OUTER

    def __init__(self, granted: bool) -> None:
        if not isinstance(granted, bool):
            raise FeedbackError(f"granted must be True or False, got {short_repr(granted)}")
        self.granted = granted

    def _value(self) -> bool:
        return self.granted
