# SPDX-License-Identifier: Apache-2.0
"""Recent calls, by response id and span id, so late feedback finds what it judges.

Bounded by count (a ring of slots, fed by a bounded queue of calls not yet looked at) and by
age; strings are length-capped, and the registry holds references to strings the calls already
had (model names are shared), so the memory it can take is bounded whatever the traffic: about
0.5 KB per call (measured with tracemalloc), so about 5 MB at the default 10,000 calls, and at
most twice that while both the ring and the queue are full (no lookup for 10,000 calls).
"""

from __future__ import annotations

import threading
from collections import deque
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
    # The call's consent decision (otel_llmperf.consent_policy); None: not made, nothing needed it.
    consent: bool | None = None

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
            self.consent,
        )


Key = str | int | tuple[str, int]


def parent_key(span_id: int) -> Key:
    """The key under which the latest call made inside span ``span_id`` is found."""
    return ("parent", span_id)


class CallRegistry:
    """A bounded, thread-safe map from response id, span id and parent span to :class:`CallRecord`.

    Remembering a call is one ``deque.append``: atomic, lock-free and cheap enough for every LLM
    call; the bounded deque drops the oldest unread call when full. Lookups, far rarer than
    calls, drain it under a lock into a ring of ``max_calls`` slots and an index of their keys,
    so a call is either still in the deque or indexed: none can fall between the two.
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
            # Written by every call; only the lock holder takes from it.
            self._pending: deque[tuple[Any, ...]] = deque(maxlen=self._size)
            self._ring: list[tuple[Any, ...] | None] = [None] * self._size
            self._next = 0
            self._index: dict[Key, tuple[Any, ...]] = {}

    def remember(self, record: CallRecord, parent_span_id: int | None = None, extra_key: str | None = None) -> None:
        """Store a finished call, findable by its response id, span id, parent span and ``extra_key``."""
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
            extra_key,
            record.consent,
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
        extra_key: str | None = None,
        consent: bool | None = None,
    ) -> None:
        """:meth:`remember` without building a record first: the per-call hot path.

        ``extra_key`` is one more id the call can be found by (Bedrock's AWS request id);
        ``consent`` the call's consent decision, which feedback about it must honour.
        """
        # Keep no reference to an oversized string: memory stays bounded by the ring's size.
        if model is not None and len(model) > MAX_STRING:
            model = model[:MAX_STRING]
        if response_id is not None and len(response_id) > MAX_STRING:
            response_id = response_id[:MAX_STRING]
        if extra_key is not None and len(extra_key) > MAX_STRING:
            extra_key = extra_key[:MAX_STRING]
        # One append of a deque with maxlen is atomic (with or without the GIL): no lock here.
        self._pending.append(
            (
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
                extra_key,
                consent,
            )
        )

    def _catch_up(self) -> None:
        # With the lock held: move the calls remembered since the last lookup into the ring, in
        # the order they were remembered, so the latest call under a shared key wins.
        pending, ring, size, index = self._pending, self._ring, self._size, self._index
        while pending:
            entry = pending.popleft()
            slot = self._next % size
            self._next += 1
            old = ring[slot]
            if old is not None:  # overwritten: drop the keys that still lead to it
                for key in _keys(old):
                    if index.get(key) is old:
                        del index[key]
            ring[slot] = entry
            for key in _keys(entry):
                index[key] = entry

    def find(self, key: Key) -> CallRecord | None:
        """The call stored under a response id, a span id or a :func:`parent_key`, if still remembered."""
        if not self._size:
            return None
        with self._lock:
            self._catch_up()
            entry = self._index.get(key)
        if entry is None or entry[0] < self._clock() - self._retention:
            return None
        _, model, provider, operation, variant, response_id, trace_id, span_id, flags, _, _, consent = entry
        context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(flags)) if span_id else None
        return CallRecord(model, provider, operation, variant, context, response_id, consent).capped()

    def __len__(self) -> int:
        """How many calls are remembered (at most ``max_calls``; expired ones included until overwritten)."""
        if not self._size:
            return 0
        with self._lock:
            self._catch_up()
            return sum(1 for entry in self._ring if entry is not None)

    def clear(self) -> None:
        """Forget everything (tests, reconfiguration)."""
        self.configure(self._size, self._retention)


def _keys(entry: tuple[Any, ...]) -> list[Key]:
    # The keys a ring entry is found by: response id, span id, parent span, extra key.
    keys: list[Key] = []
    if entry[5]:
        keys.append(entry[5])
    if entry[7]:
        keys.append(entry[7])
    if entry[9]:
        keys.append(parent_key(entry[9]))
    if entry[10]:
        keys.append(entry[10])
    return keys


# Filled by every instrumented call, read by feedback and evaluations.
REGISTRY = CallRegistry()
