# SPDX-License-Identifier: Apache-2.0
"""Recent calls, by response id and span id, so late feedback finds what it judges.

Bounded by count and by age, with every stored string length-capped, so the memory it can
take is bounded whatever the traffic: at the default 10,000 calls, a few megabytes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic

from opentelemetry.trace import SpanContext

MAX_STRING = 256


def _cap(value: str | None) -> str | None:
    return value[:MAX_STRING] if value is not None and len(value) > MAX_STRING else value


@dataclass(frozen=True, slots=True)
class CallRecord:
    """What metrics about a judged call need, and where its span is."""

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
    """A bounded, thread-safe map from response id, span id and parent span id to :class:`CallRecord`."""

    KEYS_PER_CALL = 3

    def __init__(
        self, max_calls: int = 10_000, retention: float = 3600.0, clock: Callable[[], float] = monotonic
    ) -> None:
        self._entries: OrderedDict[Key, tuple[float, CallRecord]] = OrderedDict()
        self._lock = threading.Lock()
        self._clock = clock
        self.configure(max_calls, retention)

    def configure(self, max_calls: int, retention: float) -> None:
        """Change the limits; existing entries beyond them go at the next insertion."""
        self._max_entries = self.KEYS_PER_CALL * max(max_calls, 0)
        self._retention = retention

    def remember(self, record: CallRecord, parent_span_id: int | None = None) -> None:
        """Store a finished call, findable by its response id, its span id and its parent span."""
        if self._max_entries == 0:
            return
        record = record.capped()
        now = self._clock()
        entry = (now, record)
        span_context = record.span_context
        with self._lock:
            entries = self._entries
            # Response and span ids are unique, so plain assignment appends them at the end.
            if record.response_id:
                entries[record.response_id] = entry
            if span_context is not None and span_context.is_valid:
                entries[span_context.span_id] = entry
            if parent_span_id:
                # Many calls share a parent: the latest must move to the end to outlive the rest.
                key = parent_key(parent_span_id)
                entries.pop(key, None)
                entries[key] = entry
            self._evict(now)

    def _evict(self, now: float) -> None:
        entries = self._entries
        while len(entries) > self._max_entries:
            entries.popitem(last=False)
        horizon = now - self._retention
        # Oldest first, so expiry stops at the first fresh entry: amortised O(1) per insertion.
        while entries:
            stored = next(iter(entries.values()))[0]
            if stored >= horizon:
                break
            entries.popitem(last=False)

    def find(self, key: Key) -> CallRecord | None:
        """The call stored under a response id, a span id or a :func:`parent_key`, if still remembered."""
        with self._lock:
            found = self._entries.get(key)
        if found is None or found[0] < self._clock() - self._retention:
            return None
        return found[1]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Forget everything (tests, reconfiguration)."""
        with self._lock:
            self._entries.clear()


# Filled by every instrumented call, read by feedback and evaluations.
REGISTRY = CallRegistry()
