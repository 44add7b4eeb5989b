# SPDX-License-Identifier: Apache-2.0
"""Bounded label values: validation, and caps that fold late newcomers into ``_other``.

Every value otel-llmperf puts on a metric from the application's hands (variant names,
evaluation names, feedback labels) goes through here, so a bug or a hostile client cannot
grow the number of time series without bound.
"""

from __future__ import annotations

import re
import threading

from otel_llmperf import _errors
from otel_llmperf.errors import FeedbackError

_logger = _errors.logger("otel_llmperf")

OVERFLOW = "_other"
MAX_LENGTH = 64
_ALLOWED = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/ -]*")


def check_label(field: str, value: object) -> str:
    """``value`` if it is a usable label, else a :class:`FeedbackError` naming ``field`` and the rule."""
    if not isinstance(value, str) or not value or len(value) > MAX_LENGTH or not _ALLOWED.fullmatch(value):
        raise FeedbackError(
            f"{field} must be a string of 1 to {MAX_LENGTH} characters from letters, digits and _ . : / - "
            f"space, starting with a letter or digit; got {value!r}"
        )
    return value


class BoundedLabels:
    """Admits up to ``limit`` distinct values; later new ones become ``_other`` (warned once)."""

    def __init__(self, what: str, limit: int) -> None:
        self._what = what
        self._limit = limit
        self._seen: set[str] = set()
        self._warned = False
        self._lock = threading.Lock()

    def admit(self, value: str) -> str:
        """The value itself, or ``_other`` once the cap is reached."""
        if value in self._seen:
            return value
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) < self._limit:
                self._seen.add(value)
                return value
            warn = not self._warned
            self._warned = True
        if warn:
            _logger.warning(
                "more than %d distinct %s values; %r and later new ones are recorded as %r",
                self._limit,
                self._what,
                value,
                OVERFLOW,
            )
        return OVERFLOW

    def reset(self, limit: int | None = None) -> None:
        """Forget what was seen (used when settings change at instrument time)."""
        with self._lock:
            self._seen.clear()
            self._warned = False
            if limit is not None:
                self._limit = limit
