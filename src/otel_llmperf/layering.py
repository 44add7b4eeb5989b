# SPDX-License-Identifier: Apache-2.0
"""Living next to other GenAI instrumentations: every LLM call is recorded once.

Four layers can see the same call: otel-llmperf, another instrumentation of the same SDK
(the OpenTelemetry contrib ``google-genai`` or ``openai-v2``, OpenLLMetry, OpenLIT, ...), the
SDK's own tracing (anthropic >= 1.14 traces itself through the global tracer provider), and
a framework that records the LLM call itself and then calls an instrumented SDK. The rules:

* Another instrumentation of the same SDK method records the call: its CLIENT span and the
  ``gen_ai.client.*`` metrics. Our wrapper always sits right above the SDK's function, under
  any other GenAI instrumentation, whichever was installed first (installed after one, we
  splice ourselves in beneath it). When another GenAI layer wraps ours, or its GenAI CLIENT
  span is current, or it set ``suppress_language_model_instrumentation`` (OpenLLMetry's shared
  context key), we record as a *companion*: no span and no ``gen_ai.*`` metrics, but what only
  we record (the cost counter, ``llmperf.client.time_per_output_token``, the call for feedback
  and the call log).
* When we record, we set that same key, so cooperating layers inside ours stand aside.
* An SDK that traces itself is stood aside while a GenAI layer records the call (ours, or
  another one we are a companion of): its span is not started, but its requests still carry
  the trace context of the current span. ``sdk_spans=True`` keeps the SDK's span.
* Our own layers (an instrumented method calling another, e.g. openai's ``stream()`` helper
  calling ``create``) are recorded by the outermost call, through a context key of our own.
* Removal restores the SDK's original function objects in every order: removing our layer
  from under another one splices it out of their chain, and a binding of our wrapper that
  another instrumentation put back when it was removed is recognised as ours.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final

import wrapt
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

# How deep a chain of wrappers is searched for ours: real chains are two or three layers.
_MAX_LAYERS = 16

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


def is_our_layer(attribute: Any, wrapper: Any) -> bool:
    """Whether ``attribute`` is our wrapper, or the binding of it that a class-level lookup makes."""
    # A peer's unwrap() puts back getattr(cls, name).__wrapped__: a BoundFunctionWrapper of ours.
    return attribute is wrapper or (wrapper is not None and getattr(attribute, "_self_parent", None) is wrapper)


def _inner(layer: Any) -> Any:
    return getattr(layer, "__wrapped__", None) if isinstance(layer, wrapt.BaseObjectProxy) else None


def _chain(attribute: Any) -> Iterator[Any]:
    """The layers of a chain of wrapt proxies, outermost first, then what the innermost one wraps."""
    layer = attribute
    for _ in range(_MAX_LAYERS):
        yield layer
        layer = _inner(layer)
        if layer is None:
            return


def foreign_layer_above(attribute: Any, wrapper: Any) -> str | None:
    """The module of a GenAI instrumentation that wraps our ``wrapper`` in the class attribute, if one does."""
    found = None
    for layer in _chain(attribute):
        if is_our_layer(layer, wrapper):
            return found
        found = found or foreign_layer(layer)
    return None  # ours is not in this chain: nobody wraps it


def splice_under(attribute: Any, wrapper: Callable[..., Any]) -> Any:
    """Insert our ``wrapper`` right above the SDK function at the bottom of a chain of wrapt layers.

    Returns our FunctionWrapper, or ``None`` when the chain is not one of wrapt proxies.
    """
    layers = list(_chain(attribute))
    if len(layers) < 2 or isinstance(layers[-1], wrapt.BaseObjectProxy):
        return None  # not a wrapper at all, or a chain deeper than any real one
    ours = wrapt.FunctionWrapper(layers[-1], wrapper)
    layers[-2].__wrapped__ = ours
    return ours


def remove_layer(owner: Any, name: str, wrapper: Any, original: Any) -> bool:
    """Take our ``wrapper`` out of ``owner.name``, wherever it now sits; False when it cannot be reached."""
    attribute = vars(owner).get(name)
    if attribute is original:
        return True  # another instrumentation restored the function it had saved, which drops ours too
    if is_our_layer(attribute, wrapper):
        setattr(owner, name, original)
        return True
    # Another layer wraps ours: splice ours out of its chain, so its own removal restores the original.
    for outer, inner in pairwise(_chain(attribute)):
        if is_our_layer(inner, wrapper):
            outer.__wrapped__ = original
            return True
    return False


@dataclass(frozen=True)
class SelfTracing:
    """Where an SDK that traces itself starts the span of a call, and how its users turn that off."""

    module: str
    function: str
    """A module-level function the SDK calls for each API call; it returns the span or ``None``."""
    opt_out: str


def stand_sdk_span_aside(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """Wrapper of an SDK's span factory: no SDK span while a GenAI layer records the call."""
    # Our calls, recorded or as a companion, set this key; so do OpenLLMetry and frameworks that record the call.
    if otel_context.get_value(SUPPRESS_LANGUAGE_MODEL_INSTRUMENTATION):
        # The span a dropping sampler would give: the SDK still sends the current trace context.
        context = trace.get_current_span().get_span_context()
        return trace.NonRecordingSpan(context) if context.is_valid else None
    return wrapped(*args, **kwargs)
