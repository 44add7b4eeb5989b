# SPDX-License-Identifier: Apache-2.0
"""Feedback subscriptions: ``on_feedback(callback)`` hears every feedback and evaluation as it is recorded.

Callbacks run inline, in the thread of ``record_feedback`` / ``record_evaluation``, right after
the metrics and the event were recorded, with one immutable :class:`FeedbackEvent`. They should
be quick (hand the event to a queue for anything slow). A callback that raises is reported once
(then at DEBUG) and never reaches the caller; one slower than :data:`SLOW_SECONDS` is named once.
Subscribing and unsubscribing are safe from any thread, also from inside a callback: the list of
subscribers is replaced, never changed in place, and an unsubscribed callback hears no later event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
)

from otel_llmperf import _errors
from otel_llmperf.attributes import LLMPERF_VARIANT
from otel_llmperf.errors import FeedbackError
from otel_llmperf.labels import short_repr

if TYPE_CHECKING:
    from otel_llmperf.signals import Judged

MAX_SUBSCRIBERS = 64
SLOW_SECONDS = 0.1

_logger = _errors.logger("otel_llmperf")


@dataclass(frozen=True)
class FeedbackEvent:
    """One recorded feedback or evaluation, as subscribers see it (never a user id in clear)."""

    kind: str  # thumbs, rating, nps, label, or "evaluation"
    name: str  # the event name: user_feedback.<kind>, name=, or the evaluation's name
    evaluation: str | None  # the evaluation's name, for evaluations
    score: float | None
    label: str | None
    model: str
    provider: str
    operation: str
    variant: str | None
    response_id: str | None
    matched: bool  # False: the judged call was not known here (model and provider are _unknown)
    consented: bool  # the judged call and this feedback may export personal data
    comment: str | None  # the comment or explanation as given, only with consent
    user_hash: str | None  # keyed hash of the user id, only with consent and a key
    trace_id: str | None
    span_id: str | None


class Subscription:
    """A subscribed callback: calling it calls the callback; :meth:`unsubscribe` ends the subscription."""

    __slots__ = ("_active", "_reported", "_slow_noted", "callback")

    def __init__(self, callback: Callable[[FeedbackEvent], Any]) -> None:
        self.callback = callback
        self._active = True
        self._reported = False
        self._slow_noted = False

    def __call__(self, event: FeedbackEvent) -> Any:
        """Call the callback directly (so ``@on_feedback`` leaves the function usable)."""
        return self.callback(event)

    @property
    def active(self) -> bool:
        """Whether the callback still hears new events."""
        return self._active

    def unsubscribe(self) -> None:
        """Stop delivering events to the callback (idempotent, safe inside a callback)."""
        global _subscribers
        with _lock:
            self._active = False
            _subscribers = tuple(item for item in _subscribers if item is not self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unsubscribe()

    def _deliver(self, event: FeedbackEvent) -> None:
        if not self._active:
            return
        start = perf_counter()
        try:
            self.callback(event)
        except Exception as error:
            self._failed(error)
        took = perf_counter() - start
        if took > SLOW_SECONDS and not self._slow_noted:
            self._slow_noted = True
            _logger.warning(
                "feedback subscriber %s took %.3f s inline in record_feedback/record_evaluation; "
                "hand slow work to a queue (noted once per subscriber)",
                _name(self.callback),
                took,
            )

    def _failed(self, error: Exception) -> None:
        # Once per subscriber at WARNING, whatever other subscribers do; the rest at DEBUG.
        first, self._reported = not self._reported, True
        try:
            if first:
                _logger.warning(
                    "feedback subscriber %s raised; the feedback was recorded and the caller goes on "
                    "(further errors of this subscriber are logged at DEBUG)",
                    _name(self.callback),
                    exc_info=error,
                )
            else:
                _logger.debug("feedback subscriber %s raised", _name(self.callback), exc_info=error)
        except Exception:  # reporting must never be what breaks the caller
            return


def _name(callback: Any) -> str:
    return str(getattr(callback, "__qualname__", None) or short_repr(callback))


_lock = threading.Lock()
# Replaced under the lock, read without it: delivery never waits for (or blocks) a subscriber change.
_subscribers: tuple[Subscription, ...] = ()


def on_feedback(callback: Callable[[FeedbackEvent], Any]) -> Subscription:
    """Call ``callback(event)`` after every feedback and evaluation; returns the handle to unsubscribe.

    Usable as a decorator. At most :data:`MAX_SUBSCRIBERS` at once; more raise :class:`FeedbackError`.
    """
    global _subscribers
    if not callable(callback):
        raise FeedbackError(f"callback must be callable (it receives a FeedbackEvent), got {short_repr(callback)}")
    subscription = Subscription(callback)
    with _lock:
        if len(_subscribers) >= MAX_SUBSCRIBERS:
            raise FeedbackError(
                f"callback: at most {MAX_SUBSCRIBERS} feedback subscribers at once; unsubscribe() one first"
            )
        _subscribers = (*_subscribers, subscription)
    return subscription


def publish(
    judged: Judged,
    attributes: Mapping[str, Any],
    *,
    kind: str,
    name: str,
    evaluation: str | None,
    score: float | None,
    label: str | None,
    consented: bool,
    comment: str | None,
    user_hash: str | None,
) -> None:
    """Build the event of one recorded feedback or evaluation and deliver it; never raises."""
    try:
        record = judged.record
        span = record.span_context
        variant = attributes.get(LLMPERF_VARIANT)
        event = FeedbackEvent(
            kind=kind,
            name=name,
            evaluation=evaluation,
            score=score,
            label=label,
            model=str(attributes.get(GEN_AI_REQUEST_MODEL)),
            provider=str(attributes.get(GEN_AI_PROVIDER_NAME)),
            operation=str(attributes.get(GEN_AI_OPERATION_NAME)),
            variant=str(variant) if variant is not None else None,
            response_id=record.response_id,
            matched=judged.matched,
            consented=consented,
            comment=comment if consented else None,
            user_hash=user_hash if consented else None,
            trace_id=f"{span.trace_id:032x}" if span is not None and span.is_valid else None,
            span_id=f"{span.span_id:016x}" if span is not None and span.is_valid else None,
        )
    except Exception as error:
        _errors.report("building a feedback event for subscribers", error)
        return
    deliver(event)


def listening() -> bool:
    """Whether any callback is subscribed (events are built only then)."""
    return bool(_subscribers)


def deliver(event: FeedbackEvent) -> None:
    """Hand ``event`` to every current subscriber, in subscription order; never raises."""
    for subscription in _subscribers:
        subscription._deliver(event)
