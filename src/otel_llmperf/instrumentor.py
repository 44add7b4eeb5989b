# SPDX-License-Identifier: Apache-2.0
"""Instrumentors: the ``opentelemetry_instrumentor`` entry points, one per provider SDK.

Each provider has one :class:`LLMPerfInstrumentor` subclass, registered as an
``opentelemetry_instrumentor`` entry point (``llmperf_<provider>``), so
``opentelemetry-instrument`` loads it with no code change. Instrumenting registers import hooks
(:mod:`otel_llmperf.hooks`): the SDK is patched when the application imports it, and an SDK the
application never imports is never loaded. :func:`otel_llmperf.instrument` uses the same hooks
without this class, whose base (``BaseInstrumentor``) costs tens of milliseconds to import.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Collection
from typing import Any, ClassVar

# opentelemetry-instrumentation ships no type information for BaseInstrumentor.
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_llmperf import _errors, experiments, setup, signals
from otel_llmperf.config import Settings, load_settings
from otel_llmperf.hooks import ProviderHooks
from otel_llmperf.providers import catalog, hosts
from otel_llmperf.version import __version__

_logger = _errors.logger("otel_llmperf")


class LLMPerfInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Base of the per-provider instrumentors; a subclass only names its adapter."""

    provider: ClassVar[catalog.Provider]

    def instrumentation_dependencies(self) -> Collection[str]:
        """The SDK versions this instrumentor supports."""
        return (self.provider.requirement,)

    def _instrument(self, **kwargs: Any) -> None:
        # Raising ModuleNotFoundError is how opentelemetry-instrument learns to skip us; asking
        # the import system where the SDK is does not import it.
        package = self.provider.package
        if importlib.util.find_spec(package) is None:
            raise ModuleNotFoundError(f"No module named {package!r}", name=package)
        settings: Settings = kwargs.get("settings") or load_settings()
        tracer_provider = kwargs.get("tracer_provider")
        meter_provider = kwargs.get("meter_provider")
        logger_provider = kwargs.get("logger_provider")
        described = None
        if tracer_provider is None or meter_provider is None:
            # The zero-code path: without a distro nobody configured the SDK, so we do.
            described = setup.ensure_global_providers(settings).describe()
        signals.activate(settings, meter_provider, logger_provider)
        hosts.set_extra_hosts(settings.provider_hosts)
        self._hooks = ProviderHooks(
            self.provider,
            settings,
            tracer_provider,
            meter_provider,
            # Unless skipped, BaseInstrumentor.instrument() has checked the SDK version already.
            check_version=bool(kwargs.get("skip_dep_check")),
        )
        self._hooks.start()
        _logger.info(
            "otel-llmperf %s: %s %s; %s; content capture %s; stream usage %s",
            __version__,
            package,
            f"instrumented ({self._hooks.patched_count} methods)"
            if self._hooks.imported
            else "is instrumented when imported",
            described or "using the given tracer and meter providers",
            "on" if settings.capture_content else "off",
            "on" if settings.stream_usage else "off",
        )

    def _uninstrument(self, **kwargs: Any) -> None:
        hooks = getattr(self, "_hooks", None)
        if hooks is not None:
            hooks.stop()
        experiments.stop_propagating()

    @property
    def patched_count(self) -> int:
        """How many SDK methods are currently wrapped."""
        hooks = getattr(self, "_hooks", None)
        return hooks.patched_count if hooks is not None else 0


class OpenAIInstrumentor(LLMPerfInstrumentor):
    """Instruments the ``openai`` SDK (and OpenAI-compatible servers reached through it)."""

    provider = catalog.OPENAI


class AnthropicInstrumentor(LLMPerfInstrumentor):
    """Instruments the ``anthropic`` SDK."""

    provider = catalog.ANTHROPIC


class GoogleGenAIInstrumentor(LLMPerfInstrumentor):
    """Instruments the ``google-genai`` SDK (Gemini API and Vertex AI)."""

    provider = catalog.GOOGLE_GENAI


class BedrockInstrumentor(LLMPerfInstrumentor):
    """Instruments AWS Bedrock Runtime calls made with ``boto3``/``botocore``."""

    provider = catalog.BEDROCK


class MistralInstrumentor(LLMPerfInstrumentor):
    """Instruments the ``mistralai`` SDK."""

    provider = catalog.MISTRAL


class CohereInstrumentor(LLMPerfInstrumentor):
    """Instruments the ``cohere`` SDK."""

    provider = catalog.COHERE


INSTRUMENTORS: tuple[type[LLMPerfInstrumentor], ...] = (
    OpenAIInstrumentor,
    AnthropicInstrumentor,
    GoogleGenAIInstrumentor,
    BedrockInstrumentor,
    MistralInstrumentor,
    CohereInstrumentor,
)
