# SPDX-License-Identifier: Apache-2.0
"""Living next to other GenAI instrumentations: every LLM call is recorded once.

Three layers can see the same call: otel-llmperf, another instrumentation of the same SDK
(the OpenTelemetry contrib ``openai-v2``, OpenLLMetry, OpenLIT, ...), and a framework that
records the LLM call itself and then calls an instrumented SDK. The rules:

* Another layer already recording the call outside ours wins: its GenAI CLIENT span is the
  current span, or it set ``suppress_language_model_instrumentation`` (OpenLLMetry's shared
  context key). Our wrapper then passes the call straight through.
* When we record, we set that same key, so cooperating layers inside ours stand aside.
* An SDK method that another GenAI instrumentation has already wrapped is not wrapped again:
  a layer inside ours could not be silenced from outside, so it keeps recording and we say
  once which methods we left to it.
* Our own layers (an instrumented method calling another, e.g. openai's ``stream()`` helper
  calling ``create``) are recorded by the outermost call, through a context key of our own.
"""

from __future__ import annotations

import functools
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_SYSTEM,
    GenAiOperationNameValues,
)
from opentelemetry.trace import SpanKind

SUPPRESS_LANGUAGE_MODEL_INSTRUMENTATION: Final = "suppress_language_model_instrumentation"
"""Context key (a plain string, as its users set it) that OpenLLMetry and frameworks sharing it honour."""

# Module prefixes of instrumentations that record GenAI spans and metrics of the same names.
# OpenInference and others with conventions of their own are not here: they record no
# gen_ai.client.* metrics, so both layers recording is no double count.
GENAI_INSTRUMENTATION_MODULES: Final = ("opentelemetry.instrumentation.", "openlit.")

# Operations that are one inference call; an agent or workflow span around the call is not a copy of it.
_INFERENCE = frozenset(
    value.value
    for value in (
        GenAiOperationNameValues.CHAT,
        GenAiOperationNameValues.TEXT_COMPLETION,
        GenAiOperationNameValues.GENERATE_CONTENT,
        GenAiOperationNameValues.EMBEDDINGS,
    )
)


def another_layer_records() -> bool:
    """Whether a GenAI layer outside ours is already recording the current call."""
    if otel_context.get_value(SUPPRESS_LANGUAGE_MODEL_INSTRUMENTATION):
        return True
    span = trace.get_current_span()
    if getattr(span, "kind", None) is not SpanKind.CLIENT or not span.is_recording():
        return False
    attributes = getattr(span, "attributes", None)
    if not attributes:
        return False
    operation = attributes.get(GEN_AI_OPERATION_NAME)
    if operation is not None:
        return operation in _INFERENCE
    # Older conventions (gen_ai.system) name no operation; a provider on a CLIENT span is enough.
    return GEN_AI_PROVIDER_NAME in attributes or GEN_AI_SYSTEM in attributes


def suppress_inner_layers(context: otel_context.Context) -> otel_context.Context:
    """``context`` with the key that tells cooperating layers inside ours not to record again."""
    return otel_context.set_value(SUPPRESS_LANGUAGE_MODEL_INSTRUMENTATION, True, context)


def foreign_layer(attribute: Any) -> str | None:
    """The module of the GenAI instrumentation that already wraps this SDK method, if one does."""
    wrapper = getattr(attribute, "_self_wrapper", None)  # wrapt's FunctionWrapper
    while isinstance(wrapper, functools.partial):
        wrapper = wrapper.func
    if wrapper is None:
        return None
    module = getattr(wrapper, "__module__", None)
    if not isinstance(module, str):
        module = type(wrapper).__module__
    if module.startswith(GENAI_INSTRUMENTATION_MODULES):
        return module
    return None
