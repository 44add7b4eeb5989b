# SPDX-License-Identifier: Apache-2.0
"""Instrumentors: apply a provider adapter's patch table, remember it, and undo exactly that.

Each provider has one :class:`LLMPerfInstrumentor` subclass, registered as an
``opentelemetry_instrumentor`` entry point (``llmperf_<provider>``), so
``opentelemetry-instrument`` loads it with no code change. :func:`otel_llmperf.instrument`
uses the same classes.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar

from opentelemetry import metrics, trace

# opentelemetry-instrumentation ships no type information for BaseInstrumentor.
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.semconv.schemas import Schemas
from wrapt import wrap_function_wrapper

from otel_llmperf import _errors, experiments, setup, signals
from otel_llmperf.config import Settings, load_settings
from otel_llmperf.instruments import Instruments
from otel_llmperf.invocation import Telemetry
from otel_llmperf.layering import foreign_layer
from otel_llmperf.providers import hosts
from otel_llmperf.providers.anthropic import ADAPTER as ANTHROPIC_ADAPTER
from otel_llmperf.providers.base import PatchTarget, ProviderAdapter
from otel_llmperf.providers.bedrock import ADAPTER as BEDROCK_ADAPTER
from otel_llmperf.providers.cohere import ADAPTER as COHERE_ADAPTER
from otel_llmperf.providers.google_genai import ADAPTER as GOOGLE_GENAI_ADAPTER
from otel_llmperf.providers.mistral import ADAPTER as MISTRAL_ADAPTER
from otel_llmperf.providers.openai import ADAPTER as OPENAI_ADAPTER
from otel_llmperf.version import __version__
from otel_llmperf.wrappers import make_wrapper

_logger = _errors.logger("otel_llmperf")
SCOPE = "otel_llmperf"
# The GenAI streaming metrics (time to first chunk, per chunk) arrived in semconv 1.41.
SCHEMA_URL = Schemas.V1_41_0.value


@dataclass
class _Patch:
    owner: Any
    name: str
    original: Any
    wrapper: Any


class _TakenByAnotherLayer(Exception):
    """The SDK method is already wrapped by another GenAI instrumentation, which records its calls."""


def _apply(target: PatchTarget, wrapper: Any) -> _Patch:
    module = importlib.import_module(target.module)
    owner_path, _, name = target.attribute.rpartition(".")
    owner = functools.reduce(getattr, owner_path.split("."), module)
    if name not in vars(owner):
        raise AttributeError(f"{owner_path} defines no {name} of its own")
    original = vars(owner)[name]
    other = foreign_layer(original)
    if other is not None:
        raise _TakenByAnotherLayer(f"{target.module}.{target.attribute} ({other})")
    wrap_function_wrapper(owner, name, wrapper)
    return _Patch(owner, name, original, vars(owner)[name])


def _restore(patch: _Patch) -> bool:
    # Restore the very object we replaced, but only if nobody wrapped on top of us since;
    # removing our layer from under theirs would silently drop theirs.
    if vars(patch.owner).get(patch.name) is patch.wrapper:
        setattr(patch.owner, patch.name, patch.original)
        return True
    return False


class LLMPerfInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Base of the per-provider instrumentors; a subclass only names its adapter."""

    adapter: ClassVar[ProviderAdapter]

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
        self._telemetry = telemetry
        self._patches: list[_Patch] = []
        skipped = []
        taken = []
        for target in self.adapter.patch_targets():
            try:
                self._patches.append(_apply(target, make_wrapper(telemetry, target)))
            except (ImportError, AttributeError) as error:
                skipped.append(f"{target.module}.{target.attribute} ({error})")
            except _TakenByAnotherLayer as error:
                taken.append(str(error))
        if skipped:
            _logger.debug("%s: not in this SDK version, not instrumented: %s", self.adapter.name, "; ".join(skipped))
        if taken:
            _logger.warning(
                "%s: already instrumented by another GenAI instrumentation, which records these calls; "
                "otel-llmperf leaves them alone so they are not counted twice: %s. To measure them with "
                "otel-llmperf, disable the other instrumentation (OTEL_PYTHON_DISABLED_INSTRUMENTATIONS).",
                self.adapter.name,
                "; ".join(taken),
            )
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
        for patch in reversed(getattr(self, "_patches", [])):
            if not _restore(patch):
                self._telemetry.enabled = False  # our layer stays, but passes calls straight through
                _logger.warning(
                    "%s.%s was wrapped again after otel-llmperf; leaving both wrappers in place, ours disabled",
                    getattr(patch.owner, "__qualname__", patch.owner),
                    patch.name,
                )
        self._patches = []
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
