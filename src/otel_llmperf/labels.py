# SPDX-License-Identifier: Apache-2.0
"""Bounded label values: the one mechanism every metric label from outside our code goes through.

A value an application or a remote peer chooses (a model name in an SDK request or response,
a server address, a variant, an evaluation name or class, a declared feedback label, any field
of a feedback token) becomes a metric label only through here, in this order:

1. **validate** -- where the value comes from our own API (:func:`check_label`,
   :func:`check_text`); a bad value raises :class:`FeedbackError` and uses no cap slot. SDK
   request and response values are never rejected: the call is the application's.
2. **cap the length** -- :data:`MAX_LENGTH` for names our API validates, :data:`MAX_VALUE_LENGTH`
   for SDK and token values (longer ones are cut, never rejected).
3. **cap the distinct count** -- one :class:`BoundedLabels` per label key: the first ``limit``
   distinct values are kept, later new ones become ``_other`` (warned once per key). Values
   from unsigned feedback tokens have a separate budget of the same size, so a client forging
   tokens can neither take the application's slots nor grow the series without bound.
4. **no memory per value beyond the cap** -- only admitted (length-capped) values are stored.

An already-admitted value costs one set lookup.
"""

from __future__ import annotations

import re
import reprlib
import threading
from typing import Final

from otel_llmperf import _errors
from otel_llmperf.attributes import UNKNOWN
from otel_llmperf.errors import FeedbackError

_logger = _errors.logger("otel_llmperf")

OVERFLOW: Final = "_other"
MAX_LENGTH: Final = 64
"""Longest name accepted by our own API (variants, evaluation names and classes, feedback labels)."""
MAX_VALUE_LENGTH: Final = 256
"""Longest model name, server address or token field kept; longer SDK values are cut to this."""
MAX_REPR: Final = 80
"""Longest rendering of an offending value in an error message or a warning."""
DEFAULT_MAX_MODELS: Final = 100
DEFAULT_MAX_LABEL_VALUES: Final = 100
DEFAULT_MAX_VARIANTS: Final = 16
MAX_EXPERIMENTS: Final = 32
"""Distinct experiment names that become ``llmperf.experiment`` label values; later ones are ``_other``."""

_ALLOWED = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/ -]*")
# Values that are ours, not the application's: they never take a slot.
_RESERVED = frozenset({OVERFLOW, UNKNOWN})

_repr = reprlib.Repr()
_repr.maxstring = MAX_REPR
_repr.maxother = MAX_REPR
_repr.maxlong = 40
_repr.maxlevel = 2
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxfrozenset = _repr.maxdict = 4


def short_repr(value: object) -> str:
    """``repr(value)`` cut to about :data:`MAX_REPR` characters, safe for any object (huge, nested, hostile)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        # repr() of an int above 4300 digits raises, and below that it is still useless here.
        return f"<int of {value.bit_length()} bits>"
    try:
        text = _repr.repr(value)
    except Exception:  # a __repr__ that raises, or a number too big to render
        text = f"<{type(value).__name__}>"
    return text if len(text) <= MAX_REPR + 10 else text[:MAX_REPR] + "...'"


def check_label(field: str, value: object) -> str:
    """``value`` if it is a usable label, else a :class:`FeedbackError` naming ``field`` and the rule."""
    if not isinstance(value, str) or not value or len(value) > MAX_LENGTH or not _ALLOWED.fullmatch(value):
        raise FeedbackError(
            f"{field} must be a string of 1 to {MAX_LENGTH} characters from letters, digits and _ . : / - "
            f"space, starting with a letter or digit; got {short_repr(value)}"
        )
    return value


def check_text(field: str, value: object, max_length: int = MAX_VALUE_LENGTH) -> str:
    """``value`` if it is a non-empty printable string of at most ``max_length``, else a :class:`FeedbackError`.

    For names the application passes that real systems spell freely (model ids with ``@``, ARNs).
    """
    if not isinstance(value, str) or not value or len(value) > max_length or not value.isprintable():
        raise FeedbackError(
            f"{field} must be a printable string of 1 to {max_length} characters; got {short_repr(value)}"
        )
    return value


def check_optional_text(field: str, value: object, max_length: int) -> str | None:
    """``None``, or ``value`` if it is a string of at most ``max_length`` (any characters)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise FeedbackError(f"{field} must be a string of at most {max_length} characters; got {short_repr(value)}")
    return value


def cap_length(value: str, max_length: int = MAX_VALUE_LENGTH) -> str:
    """``value`` cut to ``max_length`` characters."""
    # A slice is a copy: whoever keeps the result keeps no reference to a huge original.
    return value if len(value) <= max_length else value[:max_length]


class BoundedLabels:
    """The admitted values of one label key: up to ``limit`` distinct, later new ones become ``_other``."""

    __slots__ = ("_limit", "_lock", "_max_length", "_seen", "_untrusted", "_warned", "what")

    def __init__(self, what: str, limit: int, max_length: int = MAX_VALUE_LENGTH) -> None:
        self.what = what
        self._limit = limit
        self._max_length = max_length
        self._seen: set[str] = set()
        self._untrusted: set[str] = set()
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def admit(self, value: str) -> str:
        """The value (length-capped), or ``_other`` once ``limit`` other values were admitted."""
        if value in self._seen:
            return value
        return self._admit_new(value, self._seen, "")

    def admit_untrusted(self, value: str) -> str:
        """Like :meth:`admit` for a value nobody vouches for (unsigned token): a separate budget.

        A value the application already uses is kept; a new one takes a slot of the untrusted
        budget, never one of the application's.
        """
        if value in self._seen or value in self._untrusted:
            return value
        capped = cap_length(value, self._max_length)
        if capped in self._seen:
            return capped
        return self._admit_new(capped, self._untrusted, " from unsigned feedback tokens")

    def admit_from(self, value: str, trusted: bool) -> str:
        """:meth:`admit` when ``trusted``, else :meth:`admit_untrusted`."""
        return self.admit(value) if trusted else self.admit_untrusted(value)

    def _admit_new(self, value: str, into: set[str], source: str) -> str:
        if value in _RESERVED:
            return value
        value = cap_length(value, self._max_length)
        if value in into:
            return value
        with self._lock:
            if value in into:
                return value
            if len(into) < self._limit:
                into.add(value)
                return value
            warn = source not in self._warned
            self._warned.add(source)
        if warn:
            _logger.warning(
                "more than %d distinct %s values%s; %s and later new ones are recorded as %r",
                self._limit,
                self.what,
                source,
                short_repr(value),
                OVERFLOW,
            )
        return OVERFLOW

    def __len__(self) -> int:
        """How many values are admitted (both budgets)."""
        return len(self._seen) + len(self._untrusted)

    @property
    def limit(self) -> int:
        """The cap on distinct values (per budget)."""
        return self._limit

    def reset(self, limit: int | None = None) -> None:
        """Forget what was seen (used when settings change at instrument time)."""
        with self._lock:
            self._seen = set()
            self._untrusted = set()
            self._warned = set()
            if limit is not None:
                self._limit = limit


# One instance per label key, process-wide: every path that produces that label shares its cap.
REQUEST_MODELS = BoundedLabels("gen_ai.request.model", DEFAULT_MAX_MODELS)
RESPONSE_MODELS = BoundedLabels("gen_ai.response.model", DEFAULT_MAX_MODELS)
SERVER_ADDRESSES = BoundedLabels("server.address", DEFAULT_MAX_LABEL_VALUES)
PROVIDERS = BoundedLabels("gen_ai.provider.name", DEFAULT_MAX_LABEL_VALUES)
OPERATIONS = BoundedLabels("gen_ai.operation.name", DEFAULT_MAX_LABEL_VALUES)
ERROR_TYPES = BoundedLabels("error.type", DEFAULT_MAX_LABEL_VALUES)
EVALUATION_NAMES = BoundedLabels("gen_ai.evaluation.name", DEFAULT_MAX_LABEL_VALUES, MAX_LENGTH)
EVALUATION_CLASSES = BoundedLabels("llmperf.evaluation.class", DEFAULT_MAX_LABEL_VALUES, MAX_LENGTH)
FEEDBACK_LABELS = BoundedLabels("llmperf.feedback.label", DEFAULT_MAX_LABEL_VALUES, MAX_LENGTH)
VARIANTS = BoundedLabels("llmperf.variant", DEFAULT_MAX_VARIANTS, MAX_LENGTH)
EXPERIMENTS = BoundedLabels("llmperf.experiment", MAX_EXPERIMENTS, MAX_LENGTH)
FINGERPRINTS = BoundedLabels("openai.response.system_fingerprint", DEFAULT_MAX_LABEL_VALUES)
FINISH_REASONS = BoundedLabels("gen_ai.response.finish_reasons", DEFAULT_MAX_LABEL_VALUES, MAX_LENGTH)

_MODEL_KEYS = (REQUEST_MODELS, RESPONSE_MODELS)
_OTHER_KEYS = (
    SERVER_ADDRESSES,
    PROVIDERS,
    OPERATIONS,
    ERROR_TYPES,
    EVALUATION_NAMES,
    EVALUATION_CLASSES,
    FEEDBACK_LABELS,
    FINGERPRINTS,
    FINISH_REASONS,
)


def configure(max_models: int, max_label_values: int) -> None:
    """Set the caps and forget admitted values (at instrument time); variants are set by ``experiments``."""
    for bounded in _MODEL_KEYS:
        bounded.reset(max_models)
    for bounded in _OTHER_KEYS:
        bounded.reset(max_label_values)
