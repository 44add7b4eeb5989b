# SPDX-License-Identifier: Apache-2.0
"""Recent calls, by response id and span id, so late feedback finds what it judges.

Bounded by count and by age, with every stored string length-capped, so the memory it can
take is bounded whatever the traffic: about 1 KB per call (measured with tracemalloc, three
keys per call), so about 10 MB at the default 10,000 calls.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from time import monotonic
from typing import NamedTuple

from opentelemetry.trace import SpanContext, TraceFlags

MAX_STRING = 256


def _cap(value: str | None) -> str | None:
    return value[:MAX_STRING] if value is not None and len(value) > MAX_STRING else value


class CallRecord(NamedTuple):
    """What metrics about a judged call need, and where its span is.

    A named tuple, not a frozen dataclass: one is built per LLM call, and tuples build ~3x faster.
    """

    model: str | None
    provider: str
    operation: str
    variant: str | None
    span_context: SpanContext | None
    response_id: str | None

    def capped(self) -> CallRecord:
        """The same record with every string no longer than :data:`MAX_STRING`."""
        if (
            len(self.model or "") <= MAX_STRING
            and len(self.provider) <= MAX_STRING
            and len(self.operation) <= MAX_STRING
            and len(self.variant or "") <= MAX_STRING
            and len(self.response_id or "") <= MAX_STRING
        ):
            return self
        return CallRecord(
            _cap(self.model),
            _cap(self.provider) or "",
            _cap(self.operation) or "",
            _cap(self.variant),
            self.span_context,
            _cap(self.response_id),
        )


Key = str | int | tuple[str, int]


def parent_key(span_id: int) -> Key:
    """The key under which the latest call made inside span ``span_id`` is found."""
    return ("parent", span_id)


def _compact(context: SpanContext | None) -> tuple[int, int, int] | None:
    # Three ints instead of a SpanContext and its TraceState: about half the memory per call.
    if context is None or not context.is_valid:
        return None
    return (context.trace_id, context.span_id, int(context.trace_flags))


def _expand(record: CallRecord, compact: tuple[int, int, int] | None) -> CallRecord:
    if compact is None:
        return record
    trace_id, span_id, flags = compact
    return record._replace(span_context=SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(flags)))


class CallRegistry:
    """A bounded, thread-safe map from response id, span id and parent span id to :class:`CallRecord`.

    At most ``max_calls`` calls are kept, each for at most ``retention`` seconds; evicting a
    call removes every key that leads to it.
    """

    def __init__(
        self, max_calls: int = 10_000, retention: float = 3600.0, clock: Callable[[], float] = monotonic
    ) -> None:
        # call number -> (stored at, record without its span context, compact span context, keys)
        self._calls: OrderedDict[int, tuple[float, CallRecord, tuple[int, int, int] | None, tuple[Key, ...]]] = (
            OrderedDict()
        )
        self._index: dict[Key, int] = {}
        self._next = 0
        self._lock = threading.Lock()
        self._clock = clock
        self.configure(max_calls, retention)

    def configure(self, max_calls: int, retention: float) -> None:
        """Change the limits; calls beyond them go at the next insertion."""
        self._max_calls = max(max_calls, 0)
        self._retention = retention

    def remember(self, record: CallRecord, parent_span_id: int | None = None) -> None:
        """Store a finished call, findable by its response id, its span id and its parent span."""
        if self._max_calls == 0:
            return
        record = record.capped()
        compact = _compact(record.span_context)
        keys: list[Key] = []
        if record.response_id:
            keys.append(record.response_id)
        if compact is not None:
            keys.append(compact[1])
        if parent_span_id:
            keys.append(parent_key(parent_span_id))  # the latest call in that span wins
        model, provider, operation, variant, _, response_id = record
        stored = CallRecord(model, provider, operation, variant, None, response_id)
        now = self._clock()
        with self._lock:
            number = self._next
            self._next += 1
            self._calls[number] = (now, stored, compact, tuple(keys))
            index = self._index
            for key in keys:
                index[key] = number
            # Expired calls are invisible to find() anyway; sweeping them now and then is enough.
            if len(self._calls) > self._max_calls or not number % 64:
                self._evict(now)

    def _evict(self, now: float) -> None:
        calls, index = self._calls, self._index
        horizon = now - self._retention
        # Oldest first, so expiry stops at the first fresh call: amortised O(1) per insertion.
        while calls:
            number, (stored_at, _, _, keys) = next(iter(calls.items()))
            if len(calls) <= self._max_calls and stored_at >= horizon:
                break
            del calls[number]
            for key in keys:
                if index.get(key) == number:
                    del index[key]

    def find(self, key: Key) -> CallRecord | None:
        """The call stored under a response id, a span id or a :func:`parent_key`, if still remembered."""
        with self._lock:
            number = self._index.get(key)
            found = self._calls.get(number) if number is not None else None
        if found is None or found[0] < self._clock() - self._retention:
            return None
        return _expand(found[1], found[2])

    def __len__(self) -> int:
        """How many calls are remembered."""
        with self._lock:
            return len(self._calls)

    def clear(self) -> None:
        """Forget everything (tests, reconfiguration)."""
        with self._lock:
            self._calls.clear()
            self._index.clear()


# Filled by every instrumented call, read by feedback and evaluations.
REGISTRY = CallRegistry()
