# SPDX-License-Identifier: Apache-2.0
"""Instrumentors: apply a provider adapter's patch table, remember it, and undo exactly that.

Each provider has one :class:`LLMPerfInstrumentor` subclass, registered as an
``opentelemetry_instrumentor`` entry point (``llmperf_<provider>``), so
``opentelemetry-instrument`` loads it with no code change. :func:`otel_llmperf.instrument`
uses the same classes.
"""

from __future__ import annotations

import copy
import functools
import importlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar

from opentelemetry import metrics, trace

# opentelemetry-instrumentation ships no type information for BaseInstrumentor.
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.metrics import NoOpHistogram
from opentelemetry.semconv.schemas import Schemas
from opentelemetry.trace import NonRecordingSpan, NoOpTracer
from wrapt import wrap_function_wrapper

from otel_llmperf import _errors, experiments, setup, signals
from otel_llmperf.config import Settings, load_settings
from otel_llmperf.instruments import Instruments
from otel_llmperf.invocation import Telemetry
from otel_llmperf.layering import (
    SelfTracing,
    another_layer_records,
    foreign_layer,
    foreign_layer_above,
    is_our_layer,
    remove_layer,
    splice_under,
    stand_sdk_span_aside,
)
from otel_llmperf.providers import hosts
from otel_llmperf.providers.anthropic import ADAPTER as ANTHROPIC_ADAPTER
from otel_llmperf.providers.anthropic import SELF_TRACING as ANTHROPIC_SELF_TRACING
from otel_llmperf.providers.base import PatchTarget, ProviderAdapter
from otel_llmperf.providers.bedrock import ADAPTER as BEDROCK_ADAPTER
from otel_llmperf.providers.cohere import ADAPTER as COHERE_ADAPTER
from otel_llmperf.providers.google_genai import ADAPTER as GOOGLE_GENAI_ADAPTER
from otel_llmperf.providers.mistral import ADAPTER as MISTRAL_ADAPTER
from otel_llmperf.providers.openai import ADAPTER as OPENAI_ADAPTER
from otel_llmperf.version import __version__
from otel_llmperf.wrappers import Wrapper, make_wrapper

_logger = _errors.logger("otel_llmperf")
SCOPE = "otel_llmperf"
# The GenAI streaming metrics (time to first chunk, per chunk) arrived in semconv 1.41.
SCHEMA_URL = Schemas.V1_41_0.value


@dataclass
class _Patch:
    owner: Any
    name: str
    original: Any
    wrapper: Any = None
    under: str | None = None  # the GenAI instrumentation we were spliced in beneath, if any
    retired: bool = False  # uninstrumented; the wrapper passes calls through if anything still reaches it


class _TakenByAnotherLayer(Exception):
    """The SDK method is wrapped by another GenAI instrumentation in a way we cannot layer beneath."""


class _CompanionTracer(NoOpTracer):
    """Gives a call no span of its own: the other layer's span stays the call's only one."""

    def start_span(self, *args: Any, **kwargs: Any) -> NonRecordingSpan:
        """A non-recording span carrying the current span context (feedback links to it)."""
        return NonRecordingSpan(trace.get_current_span().get_span_context())


class _LayeredTelemetry(Telemetry):
    """Telemetry whose wrapper already chose, by the layering rules, how the call is recorded.

    The companion one records what only otel-llmperf records (cost, time per output token,
    feedback, call log): another GenAI layer records the call's span, duration, token usage and
    chunk metrics under the same names, and recording them again would count the call twice.
    """

    __slots__ = ()
    layering_checked = True


def _layered(telemetry: Telemetry) -> Telemetry:
    layered = copy.copy(telemetry)
    layered.__class__ = _LayeredTelemetry
    return layered


def _companion_of(telemetry: Telemetry) -> Telemetry:
    companion = _layered(telemetry)
    companion.tracer = _CompanionTracer()
    instruments = copy.copy(telemetry.instruments)
    silent = NoOpHistogram("unused")
    instruments.duration = instruments.token_usage = silent
    instruments.time_to_first_chunk = instruments.time_per_output_chunk = silent
    companion.instruments = instruments
    return companion


def _dispatch(patch: _Patch, full: Wrapper, companion: Wrapper) -> Wrapper:
    namespace = vars(patch.owner)  # a live view of the class dictionary
    name = patch.name

    def layered(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if patch.retired:
            # An instrumentation that saved our wrapper before wrapping puts it back when removed
            # (the contrib google-genai one does): the first call through it restores the original.
            if is_our_layer(namespace.get(name), patch.wrapper):
                setattr(patch.owner, name, patch.original)
            return wrapped(*args, **kwargs)
        # Another GenAI layer wraps ours (its span need not be current: OpenLLMetry's is not),
        # or its span or key says it records this call: it keeps the span and gen_ai.* metrics.
        try:
            attribute = namespace.get(name)
            beside = (
                attribute is not patch.wrapper and foreign_layer_above(attribute, patch.wrapper) is not None
            ) or another_layer_records()
        except Exception as error:  # a foreign wrapper or span we cannot read: record the call ourselves
            _errors.report("checking for another instrumentation layer", error)
            beside = False
        return (companion if beside else full)(wrapped, instance, args, kwargs)

    return layered


def _owner(target: PatchTarget) -> tuple[Any, str]:
    module = importlib.import_module(target.module)
    owner_path, _, name = target.attribute.rpartition(".")
    owner = functools.reduce(getattr, owner_path.split("."), module)
    if name not in vars(owner):
        raise AttributeError(f"{owner_path} defines no {name} of its own")
    return owner, name


def _apply(target: PatchTarget, telemetry: Telemetry, companion: Telemetry) -> _Patch:
    owner, name = _owner(target)
    current = vars(owner)[name]
    patch = _Patch(owner, name, current)
    layered = _dispatch(patch, make_wrapper(telemetry, target), make_wrapper(companion, target))
    other = foreign_layer(current)
    if other is not None:
        # Beneath the other instrumentation, right above the SDK's function: the same chain as
        # when we came first, so calls and every order of removal behave the same.
        wrapper = splice_under(current, layered)
        if wrapper is None:
            raise _TakenByAnotherLayer(f"{target.module}.{target.attribute} ({other})")
        patch.original, patch.wrapper, patch.under = wrapper.__wrapped__, wrapper, other
        return patch
    wrap_function_wrapper(owner, name, layered)
    patch.wrapper = vars(owner)[name]
    return patch


def _guard_sdk_spans(self_tracing: SelfTracing) -> _Patch | None:
    try:
        owner = importlib.import_module(self_tracing.module)
    except ImportError:
        return None
    original = vars(owner).get(self_tracing.function)
    if original is None:
        return None  # an SDK version that does not trace itself
    wrap_function_wrapper(owner, self_tracing.function, stand_sdk_span_aside)
    return _Patch(owner, self_tracing.function, original, vars(owner)[self_tracing.function])


class LLMPerfInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Base of the per-provider instrumentors; a subclass only names its adapter."""

    adapter: ClassVar[ProviderAdapter]
    self_tracing: ClassVar[SelfTracing | None] = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """The SDK versions this instrumentor supports."""
        return (self.adapter.requirement,)

    def _instrument(self, **kwargs: Any) -> None:
        # Raising ModuleNotFoundError is how opentelemetry-instrument learns to skip us.
        sdk = importlib.import_module(self.adapter.package)
        settings: Settings = kwargs.get("settings") or load_settings()
        tracer_provider = kwargs.get("tracer_provider")
        meter_provider = kwargs.get("meter_provider")
        logger_provider = kwargs.get("logger_provider")
        described = None
        if tracer_provider is None or meter_provider is None:
            # The zero-code path: without a distro nobody configured the SDK, so we do.
            described = setup.ensure_global_providers(settings).describe()
        if not kwargs.get("quiet"):
            # Used on its own (opentelemetry-instrument): feedback, evaluations and variants too.
            activate(settings, meter_provider, logger_provider)
        hosts.set_extra_hosts(settings.provider_hosts)
        telemetry = Telemetry(
            trace.get_tracer(SCOPE, __version__, tracer_provider, schema_url=SCHEMA_URL),
            Instruments(metrics.get_meter(SCOPE, __version__, meter_provider, schema_url=SCHEMA_URL)),
            settings,
            self.adapter,
        )
        telemetry = _layered(telemetry)
        companion = _companion_of(telemetry)
        self._telemetries = (telemetry, companion)
        self._patches: list[_Patch] = []
        skipped = []
        taken = []
        for target in self.adapter.patch_targets():
            try:
                self._patches.append(_apply(target, telemetry, companion))
            except (ImportError, AttributeError) as error:
                skipped.append(f"{target.module}.{target.attribute} ({error})")
            except _TakenByAnotherLayer as error:
                taken.append(str(error))
        if skipped:
            _logger.debug("%s: not in this SDK version, not instrumented: %s", self.adapter.name, "; ".join(skipped))
        beneath = [f"{patch.owner.__qualname__}.{patch.name} ({patch.under})" for patch in self._patches if patch.under]
        if beneath:
            _logger.info(
                "%s: already instrumented by another GenAI instrumentation, which keeps recording the span, "
                "duration, token usage and chunk metrics of these calls; otel-llmperf adds the cost, the time "
                "per output token and the call for feedback: %s",
                self.adapter.name,
                "; ".join(beneath),
            )
        if taken:
            _logger.warning(
                "%s: already instrumented by another GenAI instrumentation that otel-llmperf cannot layer "
                "beneath, which records these calls; otel-llmperf leaves them alone so they are not counted "
                "twice, and records no cost, time per output token or feedback link for them: %s. To measure "
                "them with otel-llmperf, disable the other instrumentation (OTEL_PYTHON_DISABLED_INSTRUMENTATIONS).",
                self.adapter.name,
                "; ".join(taken),
            )
        guard = _guard_sdk_spans(self.self_tracing) if self.self_tracing and not settings.sdk_spans else None
        self._sdk_span_guard = guard
        if not kwargs.get("quiet"):
            _logger.info(
                "otel-llmperf %s: instrumented %s %s (%d methods); %s; content capture %s; stream usage %s",
                __version__,
                self.adapter.package,
                getattr(sdk, "__version__", "?"),
                len(self._patches),
                described or "using the given tracer and meter providers",
                "on" if settings.capture_content else "off",
                "on" if settings.stream_usage else "off",
            )

    def _uninstrument(self, **kwargs: Any) -> None:
        # Whatever stays reachable (a binding of ours that another instrumentation saved and puts
        # back later) passes calls straight through from now on.
        for telemetry in getattr(self, "_telemetries", ()):
            telemetry.enabled = False
        guard = getattr(self, "_sdk_span_guard", None)
        patches = getattr(self, "_patches", [])
        for patch in reversed([*patches, *([guard] if guard else [])]):
            patch.retired = True
            if not remove_layer(patch.owner, patch.name, patch.wrapper, patch.original):
                _logger.warning(
                    "%s.%s is wrapped above otel-llmperf by something that is no wrapt proxy; leaving our "
                    "layer in place, disabled",
                    getattr(patch.owner, "__qualname__", patch.owner),
                    patch.name,
                )
        self._patches = []
        self._sdk_span_guard = None
        if not kwargs.get("quiet"):
            experiments.stop_propagating()

    @property
    def patched_count(self) -> int:
        """How many SDK methods are currently wrapped."""
        return len(getattr(self, "_patches", []))


def activate(settings: Settings, meter_provider: Any = None, logger_provider: Any = None) -> None:
    """Bind feedback, evaluations and variants to these settings and providers."""
    signals.configure(settings, meter_provider, logger_provider)
    experiments.configure(settings.variant, settings.max_variants)
    experiments.propagate_to_threads()


class OpenAIInstrumentor(LLMPerfInstrumentor):
    """Instruments the ``openai`` SDK (and OpenAI-compatible servers reached through it)."""

    adapter = OPENAI_ADAPTER


class AnthropicInstrumentor(LLMPerfInstrumentor):
    """Instruments the ``anthropic`` SDK."""

    adapter = ANTHROPIC_ADAPTER
    self_tracing = ANTHROPIC_SELF_TRACING


class GoogleGenAIInstrumentor(LLMPerfInstrumentor):
    """Instruments the ``google-genai`` SDK (Gemini API and Vertex AI)."""

    adapter = GOOGLE_GENAI_ADAPTER


class BedrockInstrumentor(LLMPerfInstrumentor):
    """Instruments AWS Bedrock Runtime calls made with ``boto3``/``botocore``."""

    adapter = BEDROCK_ADAPTER


class MistralInstrumentor(LLMPerfInstrumentor):
    """Instruments the ``mistralai`` SDK."""

    adapter = MISTRAL_ADAPTER


class CohereInstrumentor(LLMPerfInstrumentor):
    """Instruments the ``cohere`` SDK."""

    adapter = COHERE_ADAPTER


INSTRUMENTORS: tuple[type[LLMPerfInstrumentor], ...] = (
    OpenAIInstrumentor,
    AnthropicInstrumentor,
    GoogleGenAIInstrumentor,
    BedrockInstrumentor,
    MistralInstrumentor,
    CohereInstrumentor,
)
