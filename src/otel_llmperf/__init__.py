# SPDX-License-Identifier: Apache-2.0
"""otel-llmperf: OpenTelemetry performance telemetry for LLM client SDKs.

Turn it on once, before creating clients::

    import otel_llmperf

    otel_llmperf.instrument()

    from openai import OpenAI
    client = OpenAI()
    client.chat.completions.create(model="gpt-4o-mini", messages=[...])  # measured

or with no code change at all::

    opentelemetry-instrument python app.py     # loads the ``llmperf_*`` entry points

Every installed SDK is instrumented, each with its own entry point: ``openai``
(``llmperf_openai``), ``anthropic`` (``llmperf_anthropic``), ``google-genai``
(``llmperf_google_genai``), ``boto3`` Bedrock Runtime (``llmperf_bedrock``), ``mistralai``
(``llmperf_mistral``) and ``cohere`` v2 (``llmperf_cohere``); SDKs that are not installed are
skipped. Every call then produces a CLIENT span named ``{operation} {model}`` with the GenAI
semantic convention attributes, and these metrics (Prometheus names in brackets):

* ``gen_ai.client.operation.duration`` [``gen_ai_client_operation_duration_seconds``], every
  call, with ``error.type`` when it failed;
* ``gen_ai.client.token.usage`` [``gen_ai_client_token_usage``], per ``gen_ai.token.type``;
* ``gen_ai.client.operation.time_to_first_chunk`` and ``…time_per_output_chunk``
  [``…_seconds``], streams only;
* ``llmperf.client.time_per_output_token`` [``llmperf_client_time_per_output_token_seconds``],
  streams whose output token count is known.
* ``llmperf.usage.cost`` [``llmperf_usage_cost_USD_total``], USD at list prices from the price
  table shipped in the package (``prices.json``, dated), extended or overridden by a JSON/YAML
  file (``OTEL_PYTHON_LLMPERF_PRICES``) or a mapping (``prices=``); unknown models cost nothing
  and are named once in the log. Nothing is ever fetched.

A call is recorded once even when another GenAI instrumentation of the same SDK, or a framework
recording the call itself, is active (see the README, "Living with other instrumentations").
To analyse a period from Prometheus, compare A/B variants and publish a summary, see
``otel-llmperf report`` (:mod:`otel_llmperf.report`).

Trust signals, next to the latency metrics and with the same model/provider/variant labels::

    otel_llmperf.record_feedback("thumbs", True, response=response)    # also rating, nps, label
    token = otel_llmperf.feedback_token(response)                       # for feedback from a browser
    otel_llmperf.record_feedback("rating", 4, token=token)             # in any process
    otel_llmperf.record_evaluation("groundedness", score=0.8, predicted=True, expected=True, response=response)
    otel_llmperf.evaluate_dataset("intent", pairs, classes=["a", "b", "c"], model="gpt-4o-mini")
    with otel_llmperf.variant("b"):                                     # A/B: llmperf.variant="b"
        ...

Bad input to these raises :class:`FeedbackError` (a ``ValueError``) naming the field.

Configuration: keyword arguments of :func:`instrument` or the environment variables below
(keywords win). Bad values log a warning and fall back to the default; nothing raises, and
neither do bad values of the SDK's own ``OTEL_*`` variables when otel-llmperf builds the providers.
Label values from outside are bounded (length 256, distinct counts below): see the README's Limits.

=======================================================  =========================  ==========================
Variable                                                 Keyword                    Default
=======================================================  =========================  ==========================
OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT       capture_content            false
OTEL_PYTHON_LLMPERF_CONTENT_MAX_LENGTH                   content_max_length         16384
OTEL_PYTHON_LLMPERF_STREAM_USAGE                         stream_usage               false
OTEL_PYTHON_LLMPERF_CHUNK_METRICS                        chunk_metrics              true
OTEL_PYTHON_LLMPERF_PROVIDER_HOSTS                       provider_hosts             the built-in table
OTEL_PYTHON_LLMPERF_PRICES                               prices                     the shipped table
OTEL_PYTHON_LLMPERF_VARIANT                              variant                    none
OTEL_PYTHON_LLMPERF_MAX_VARIANTS                         max_variants               16
OTEL_PYTHON_LLMPERF_MAX_MODELS                           max_models                 100
OTEL_PYTHON_LLMPERF_MAX_LABEL_VALUES                     max_label_values           100
OTEL_PYTHON_LLMPERF_FEEDBACK_SECRET                      feedback_secret            unset: tokens unsigned
OTEL_PYTHON_LLMPERF_FEEDBACK_TOKEN_TTL                   feedback_token_ttl         604800 s
OTEL_PYTHON_LLMPERF_FEEDBACK_MAX_CALLS                   feedback_max_calls         10000
OTEL_PYTHON_LLMPERF_FEEDBACK_RETENTION                   feedback_retention         3600 s
OTEL_PYTHON_LLMPERF_USER_ID_KEY                          user_id_key                unset: user ids dropped
OTEL_PYTHON_LLMPERF_REDACTOR                             redact                     none (``basic`` ships)
OTEL_PYTHON_LLMPERF_LOG_CALLS                            log_calls                  false
OTEL_PYTHON_LLMPERF_SDK_SPANS                            sdk_spans                  false
OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT                     shutdown_timeout           2 s (0 … 600)
OTEL_SERVICE_NAME                                        service_name               unknown_service
OTEL_TRACES_EXPORTER (otlp, console, none)               traces_exporter            otlp if an endpoint is set
OTEL_METRICS_EXPORTER (otlp, prometheus, console, none)  metrics_exporter           prometheus, +otlp if set
OTEL_LOGS_EXPORTER (otlp, console, none)                 logs_exporter              otlp if an endpoint is set
OTEL_EXPORTER_OTLP_ENDPOINT                              otlp_endpoint              unset
OTEL_EXPORTER_OTLP_PROTOCOL (grpc, http/protobuf)        otlp_protocol              http/protobuf
OTEL_EXPORTER_PROMETHEUS_HOST                            prometheus_host            127.0.0.1
OTEL_EXPORTER_PROMETHEUS_PORT                            prometheus_port            9464
OTEL_PYTHON_DISABLED_INSTRUMENTATIONS                    disabled_instrumentations  none
=======================================================  =========================  ==========================

If the application already installed OpenTelemetry SDK providers, they are used and no
exporter is created; ``tracer_provider=`` / ``meter_provider=`` pass providers explicitly.
Providers otel-llmperf builds flush at exit, all at once, within the shutdown timeout; what did
not arrive by then is dropped and counted in one warning line (README, "Shutdown").
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

from otel_llmperf import _errors, experiments, setup
from otel_llmperf.calllog import JsonFormatter
from otel_llmperf.config import load_settings
from otel_llmperf.errors import FeedbackError, InvalidFeedbackToken
from otel_llmperf.evaluation import DatasetEvaluation, Scores, evaluate_dataset, record_evaluation
from otel_llmperf.experiments import current_variant, variant
from otel_llmperf.feedback import Feedback, feedback_token, record_feedback
from otel_llmperf.instrumentor import INSTRUMENTORS, LLMPerfInstrumentor, OpenAIInstrumentor, activate
from otel_llmperf.privacy import basic_redactor
from otel_llmperf.version import __version__

__all__ = [
    "DatasetEvaluation",
    "Feedback",
    "FeedbackError",
    "InvalidFeedbackToken",
    "JsonFormatter",
    "LLMPerfInstrumentor",
    "OpenAIInstrumentor",
    "Scores",
    "__version__",
    "basic_redactor",
    "current_variant",
    "evaluate_dataset",
    "feedback_token",
    "instrument",
    "record_evaluation",
    "record_feedback",
    "uninstrument",
    "variant",
]

_logger = _errors.logger("otel_llmperf")
_lock = threading.Lock()
_active: list[LLMPerfInstrumentor] = []


def instrument(
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    logger_provider: Any = None,
    prometheus_registry: Any = None,
    **options: Any,
) -> None:
    """Instrument every installed LLM SDK; set up exporters unless the application has providers."""
    with _lock:
        if _active:
            _logger.debug("otel-llmperf is already instrumented; instrument() ignored")
            return
        settings = load_settings(**options)
        if settings.sdk_disabled:
            _logger.info("otel-llmperf: OTEL_SDK_DISABLED=true, nothing instrumented")
            return
        if tracer_provider is None or meter_provider is None:
            described = setup.ensure_global_providers(settings, prometheus_registry).describe()
        else:
            described = "using the given tracer and meter providers"
        activate(settings, meter_provider, logger_provider)
        done, skipped = [], []
        for cls in INSTRUMENTORS:
            adapter = cls.adapter
            if adapter.name in settings.disabled_instrumentations or "*" in settings.disabled_instrumentations:
                skipped.append(f"{adapter.package} (disabled)")
                continue
            if importlib.util.find_spec(adapter.package) is None:
                skipped.append(f"{adapter.package} (not installed)")
                continue
            conflict = get_dependency_conflicts([adapter.requirement])
            if conflict is not None:
                _logger.warning("otel-llmperf: %s; instrumenting anyway, some methods may be skipped", conflict)
            instrumentor = cls()
            instrumentor.instrument(
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
                settings=settings,
                skip_dep_check=True,
                quiet=True,
            )
            _active.append(instrumentor)
            done.append(f"{adapter.package} ({instrumentor.patched_count} methods)")
        _logger.info(
            "otel-llmperf %s: instrumented %s%s; %s; content capture %s; stream usage %s",
            __version__,
            ", ".join(done) or "nothing",
            f", skipped {', '.join(skipped)}" if skipped else "",
            described,
            "on" if settings.capture_content else "off",
            "on" if settings.stream_usage else "off",
        )


def uninstrument() -> None:
    """Remove every patch :func:`instrument` applied, restoring the original SDK methods."""
    with _lock:
        for instrumentor in reversed(_active):
            instrumentor.uninstrument()
        _active.clear()
        experiments.stop_propagating()
