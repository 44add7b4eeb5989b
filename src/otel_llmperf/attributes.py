# SPDX-License-Identifier: Apache-2.0
"""otel-llmperf's own attribute names, for signals the semantic conventions do not cover.

Everything here is in the ``llmperf.*`` namespace; semconv names are always imported from
``opentelemetry-semantic-conventions`` instead of being typed again.
"""

from __future__ import annotations

from typing import Final

LLMPERF_VARIANT: Final = "llmperf.variant"
"""The A/B variant a call, a feedback or an evaluation belongs to (bounded, see ``variant()``)."""

LLMPERF_EXPERIMENT: Final = "llmperf.experiment"
"""The declared experiment an assignment (and the calls made inside it) belongs to (bounded, see ``assign()``)."""

LLMPERF_FEEDBACK_KIND: Final = "llmperf.feedback.kind"
"""``thumbs``, ``rating``, ``nps`` or ``label``."""

LLMPERF_FEEDBACK_LABEL: Final = "llmperf.feedback.label"
"""``up``/``down``; the rating value; ``promoter``/``passive``/``detractor``; or the declared label."""

LLMPERF_EVALUATION_OUTCOME: Final = "llmperf.evaluation.outcome"
"""``tp``, ``fp``, ``fn`` or ``tn``: true/false positive/negative."""

LLMPERF_EVALUATION_CLASS: Final = "llmperf.evaluation.class"
"""The class a one-vs-rest outcome is about, for per-class precision and recall."""

LLMPERF_USAGE_COST: Final = "llmperf.usage.cost"
"""Cost of the call in USD from its token usage and the price table; absent when the model has no price."""

UNKNOWN: Final = "_unknown"
"""Model, provider and operation of feedback whose call is not known here (documented fallback)."""
