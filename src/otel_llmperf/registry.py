# SPDX-License-Identifier: Apache-2.0
"""Recent calls, by response id and span id, so late feedback finds what it judges.

Bounded by count (a ring of slots) and by age; strings are length-capped when read back, and
the ring holds references to strings the calls already had (model names are shared), so the
memory it can take is bounded whatever the traffic: about 0.5 KB per call (measured with
tracemalloc), so about 5 MB at the default 10,000 calls.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from time import monotonic
from typing import Any, NamedTuple

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


class CallRegistry:
    """A bounded, thread-safe map from response id, span id and parent span to :class:`CallRecord`.

    Calls go into a ring of ``max_calls`` slots: remembering one is a slot write with no lock,
    cheap enough for every LLM call, and the oldest call is overwritten when the ring is full.
    The index from keys to slots is brought up to date lazily, when feedback looks a call up,
    which is far rarer than calls.
    """

    def __init__(
        self, max_calls: int = 10_000, retention: float = 3600.0, clock: Callable[[], float] = monotonic
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.configure(max_calls, retention)

    def configure(self, max_calls: int, retention: float) -> None:
        """Set the limits (this forgets every remembered call)."""
        with self._lock:
            self._size = max(max_calls, 0)
            self._retention = retention
            self._ring: list[tuple[Any, ...] | None] = [None] * self._size
            self._sequence = itertools.count()
            self._index: dict[Key, int] = {}
            self._indexed = 0
            self._last = -1

    def remember(self, record: CallRecord, parent_span_id: int | None = None) -> None:
        """Store a finished call, findable by its response id, its span id and its parent span."""
        context = record.span_context
        trace_id = span_id = flags = 0
        if context is not None and context.is_valid:
            trace_id, span_id, flags = context.trace_id, context.span_id, int(context.trace_flags)
        self.remember_fields(
            record.model,
            record.provider,
            record.operation,
            record.variant,
            record.response_id,
            trace_id,
            span_id,
            flags,
            parent_span_id or 0,
        )

    def remember_fields(
        self,
        model: str | None,
        provider: str,
        operation: str,
        variant: str | None,
        response_id: str | None,
        trace_id: int,
        span_id: int,
        trace_flags: int,
        parent_span_id: int,
    ) -> None:
        """:meth:`remember` without building a record first: the per-call hot path."""
        size = self._size
        if not size:
            return
        # next() on itertools.count and a list item store are atomic under the GIL: no lock.
        # Keep no reference to an oversized string: memory stays bounded by the ring's size.
        if model is not None and len(model) > MAX_STRING:
            model = model[:MAX_STRING]
        if response_id is not None and len(response_id) > MAX_STRING:
            response_id = response_id[:MAX_STRING]
        number = next(self._sequence)
        self._last = number
        self._ring[number % size] = (
            number,
            self._clock(),
            model,
            provider,
            operation,
            variant,
            response_id,
            trace_id,
            span_id,
            trace_flags,
            parent_span_id,
        )

    def _catch_up(self) -> None:
        # Index the calls written since the last lookup, oldest first, so later calls win.
        ring, size, index = self._ring, self._size, self._index
        newest = max(self._last, self._indexed - 1)
        # A writer may have taken a later number and stored it before _last caught up: look ahead.
        while (ahead := ring[(newest + 1) % size]) is not None and ahead[0] == newest + 1:
            newest += 1
        for number in range(max(self._indexed, newest - size + 1), newest + 1):
            entry = ring[number % size]
            if entry is None or entry[0] != number:
                continue
            if entry[6]:
                index[entry[6]] = number
            if entry[8]:
                index[entry[8]] = number
            if entry[10]:
                index[parent_key(entry[10])] = number
        self._indexed = newest + 1
        if len(index) > 4 * size:  # keys of overwritten calls: rebuild from what the ring holds
            self._index = {key: number for key, number in index.items() if number > newest - size}

    def find(self, key: Key) -> CallRecord | None:
        """The call stored under a response id, a span id or a :func:`parent_key`, if still remembered."""
        if not self._size:
            return None
        with self._lock:
            self._catch_up()
            number = self._index.get(key)
            entry = self._ring[number % self._size] if number is not None else None
        if entry is None or entry[0] != number or entry[1] < self._clock() - self._retention:
            return None
        _, _, model, provider, operation, variant, response_id, trace_id, span_id, flags, _ = entry
        context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(flags)) if span_id else None
        return CallRecord(model, provider, operation, variant, context, response_id).capped()

    def __len__(self) -> int:
        """How many calls are remembered (at most ``max_calls``; expired ones included until overwritten)."""
        return sum(1 for entry in self._ring if entry is not None)

    def clear(self) -> None:
        """Forget everything (tests, reconfiguration)."""
        self.configure(self._size, self._retention)


# Filled by every instrumented call, read by feedback and evaluations.
REGISTRY = CallRegistry()
