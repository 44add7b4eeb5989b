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
skipped. ``instrument()`` imports none of them: each SDK is patched when the application imports
it, before or after ``instrument()`` (wrapt post-import hooks), so an application that uses one
SDK never loads the other five, and ``uninstrument()`` takes back the hooks that have not fired.
``import otel_llmperf`` itself loads its parts on first use.

Every call then produces a CLIENT span named ``{operation} {model}`` with the GenAI semantic
convention attributes, and these metrics (Prometheus names in brackets):

* ``gen_ai.client.operation.duration`` [``gen_ai_client_operation_duration_seconds``], every
  call, with ``error.type`` when it failed;
* ``gen_ai.client.token.usage`` [``gen_ai_client_token_usage``], per ``gen_ai.token.type``;
* ``gen_ai.client.operation.time_to_first_chunk`` and ``…time_per_output_chunk``
  [``…_seconds``], streams only;
* ``llmperf.client.time_per_output_token`` [``llmperf_client_time_per_output_token_seconds``],
  streams whose output token count is known.
* ``llmperf.usage.cost`` [``llmperf_usage_cost_USD_total``], USD at list prices from the data
  bundled with ``genai-prices`` (loaded off the hot path, see ``PriceTable.warm``), extended or
  overridden by a JSON/YAML file (``OTEL_PYTHON_LLMPERF_PRICES``) or a mapping (``prices=``);
  unknown models cost nothing and are named once in the log. Nothing is ever fetched.

A call is recorded once even when another GenAI instrumentation of the same SDK, or a framework
recording the call itself, is active (see docs/providers.md).
To analyse a period from Prometheus, compare A/B variants and publish a summary, see
``otel-llmperf report`` (:mod:`otel_llmperf.report`).
No data where you expect it? ``otel-llmperf doctor`` (:mod:`otel_llmperf.doctor`) says why.

Trust signals, next to the latency metrics and with the same model/provider/variant labels::

    otel_llmperf.record_feedback("thumbs", True, response=response)    # also rating, nps, label
    token = otel_llmperf.feedback_token(response)                       # for feedback from a browser
    otel_llmperf.record_feedback("rating", 4, token=token)             # in any process
    otel_llmperf.record_evaluation("groundedness", score=0.8, predicted=True, expected=True, response=response)
    otel_llmperf.evaluate_dataset("intent", pairs, classes=["a", "b", "c"], model="gpt-4o-mini")
    with otel_llmperf.variant("b"):                                     # A/B: llmperf.variant="b"
        ...
    with otel_llmperf.consent(False):                                   # no content, comment, user hash
        ...
    otel_llmperf.on_feedback(callback)                                  # callback(FeedbackEvent) per record

Experiments assign units (users, sessions) to variants, sticky across processes and restarts::

    otel_llmperf.declare_experiment("prompt-v2", {"control": 50, "concise": 50}, salt="2026-12")
    with otel_llmperf.assign("prompt-v2", user_id) as name:             # one exposure, variant=name
        ...
    otel_llmperf.variant_for("prompt-v2", user_id)                      # routing only, nothing counted

``llmperf.experiment.exposures`` [``llmperf_experiment_exposures_total``] counts entries and
``llmperf.experiment.weight`` [``llmperf_experiment_weight``] exports declared shares, for the
sample-ratio-mismatch check of ``otel-llmperf report``, the alert rule and the A/B dashboard.

Bad input to these raises :class:`FeedbackError` (a ``ValueError``; :class:`ExperimentError` for
experiments) naming the field.

Configuration: keyword arguments of :func:`instrument` or the environment variables below
(keywords win). Bad values log a warning and fall back to the default; nothing raises, and
neither do bad values of the SDK's own ``OTEL_*`` variables when otel-llmperf builds the providers.
Label values from outside are bounded (length 256, distinct counts below): see docs/metrics.md.

======================================================= =============================== ==========================
Variable                                                Keyword                         Default
======================================================= =============================== ==========================
OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT      capture_content                 false
OTEL_PYTHON_LLMPERF_CONTENT_MAX_LENGTH                  content_max_length              16384
OTEL_PYTHON_LLMPERF_STREAM_USAGE                        stream_usage                    false
OTEL_PYTHON_LLMPERF_CHUNK_METRICS                       chunk_metrics                   true
OTEL_PYTHON_LLMPERF_PROVIDER_HOSTS                      provider_hosts                  the built-in table
OTEL_PYTHON_LLMPERF_PRICES                              prices                          genai-prices' data
OTEL_PYTHON_LLMPERF_VARIANT                             variant                         none
OTEL_PYTHON_LLMPERF_MAX_VARIANTS                        max_variants                    16
OTEL_PYTHON_LLMPERF_MAX_MODELS                          max_models                      100
OTEL_PYTHON_LLMPERF_MAX_LABEL_VALUES                    max_label_values                100
OTEL_PYTHON_LLMPERF_FEEDBACK_SECRET                     feedback_secret                 unset: tokens unsigned
OTEL_PYTHON_LLMPERF_FEEDBACK_TOKEN_TTL                  feedback_token_ttl              604800 s
OTEL_PYTHON_LLMPERF_FEEDBACK_MAX_CALLS                  feedback_max_calls              10000
OTEL_PYTHON_LLMPERF_FEEDBACK_RETENTION                  feedback_retention              3600 s
OTEL_PYTHON_LLMPERF_USER_ID_KEY                         user_id_key                     unset: user ids dropped
OTEL_PYTHON_LLMPERF_REDACTOR                            redact                          none (``basic`` ships)
OTEL_PYTHON_LLMPERF_CONSENT_DEFAULT                     consent_default                 true
OTEL_PYTHON_LLMPERF_LOG_CALLS                           log_calls                       false
OTEL_PYTHON_LLMPERF_SDK_SPANS                           sdk_spans                       false
OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT                    shutdown_timeout                2 s (0 … 600)
OTEL_SERVICE_NAME                                       service_name                    unknown_service
OTEL_TRACES_EXPORTER (otlp, console, none)              traces_exporter                 otlp if an endpoint is set
OTEL_METRICS_EXPORTER (otlp, prometheus, console, none) metrics_exporter                prometheus, +otlp if set
OTEL_LOGS_EXPORTER (otlp, console, none)                logs_exporter                   otlp if an endpoint is set
OTEL_EXPORTER_OTLP_ENDPOINT                             otlp_endpoint                   unset
OTEL_EXPORTER_OTLP_PROTOCOL (grpc, http/protobuf)       otlp_protocol                   http/protobuf
OTEL_EXPORTER_PROMETHEUS_HOST                           prometheus_host                 127.0.0.1
OTEL_EXPORTER_PROMETHEUS_PORT                           prometheus_port                 9464
OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR            prometheus_multiproc_dir        unset: one process
OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_INTERVAL       prometheus_multiproc_interval   1000 ms
OTEL_PYTHON_DISABLED_INSTRUMENTATIONS                   disabled_instrumentations       none
======================================================= =============================== ===================
``consent=`` (keyword only) takes a callable with no argument, asked once per call whether its
user consented; see :mod:`otel_llmperf.consent_policy` and docs/privacy.md.
If the application already installed OpenTelemetry SDK providers, they are used and no
exporter is created; ``tracer_provider=`` / ``meter_provider=`` pass providers explicitly.
Providers otel-llmperf builds flush at exit, all at once, within the shutdown timeout; what did
not arrive by then is dropped and counted in one warning line (docs/configuration.md).
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from typing import TYPE_CHECKING, Any

# Settings and the import hooks load here, with none of OpenTelemetry's API: instrument() then
# reads the environment and registers hooks. The rest loads when used: feedback and variants
# with instrument() or their first use, exporters and the SDK when instrument() builds them,
# wrapt and the code that records calls with the first SDK the application imports, then price
# data; reports, the demo, SLO tooling and the doctor when run.
from otel_llmperf import _errors
from otel_llmperf.config import Settings, load_settings
from otel_llmperf.hooks import ProviderHooks
from otel_llmperf.providers import catalog
from otel_llmperf.version import __version__

if TYPE_CHECKING:
    from otel_llmperf.assignment import assign, declare_experiment, variant_for
    from otel_llmperf.calllog import JsonFormatter
    from otel_llmperf.consent_policy import consent
    from otel_llmperf.errors import ExperimentError, FeedbackError, InvalidFeedbackToken
    from otel_llmperf.evaluation import DatasetEvaluation, Scores, evaluate_dataset, record_evaluation
    from otel_llmperf.experiments import current_variant, variant
    from otel_llmperf.feedback import Feedback, feedback_token, record_feedback
    from otel_llmperf.feedback_events import FeedbackEvent, Subscription, on_feedback
    from otel_llmperf.instrumentor import LLMPerfInstrumentor, OpenAIInstrumentor
    from otel_llmperf.privacy import basic_redactor

__all__ = [
    "DatasetEvaluation",
    "ExperimentError",
    "Feedback",
    "FeedbackError",
    "FeedbackEvent",
    "InvalidFeedbackToken",
    "JsonFormatter",
    "LLMPerfInstrumentor",
    "OpenAIInstrumentor",
    "Scores",
    "Subscription",
    "__version__",
    "assign",
    "basic_redactor",
    "consent",
    "current_variant",
    "declare_experiment",
    "evaluate_dataset",
    "feedback_token",
    "instrument",
    "on_feedback",
    "record_evaluation",
    "record_feedback",
    "uninstrument",
    "variant",
    "variant_for",
]

# The public names are loaded on first use, so ``import otel_llmperf`` stays cheap for every
# process that imports it (serverless cold starts, CLIs, gunicorn workers): name -> module.
_LAZY = {
    "JsonFormatter": "calllog",
    "assign": "assignment",
    "declare_experiment": "assignment",
    "variant_for": "assignment",
    "ExperimentError": "errors",
    "FeedbackError": "errors",
    "InvalidFeedbackToken": "errors",
    "DatasetEvaluation": "evaluation",
    "Scores": "evaluation",
    "evaluate_dataset": "evaluation",
    "record_evaluation": "evaluation",
    "current_variant": "experiments",
    "variant": "experiments",
    "Feedback": "feedback",
    "feedback_token": "feedback",
    "record_feedback": "feedback",
    "FeedbackEvent": "feedback_events",
    "Subscription": "feedback_events",
    "on_feedback": "feedback_events",
    "consent": "consent_policy",
    "LLMPerfInstrumentor": "instrumentor",
    "OpenAIInstrumentor": "instrumentor",
    "basic_redactor": "privacy",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_llmperf' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"otel_llmperf.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


_logger = _errors.logger("otel_llmperf")
_lock = threading.Lock()
_active: list[ProviderHooks] = []


def instrument(
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    logger_provider: Any = None,
    prometheus_registry: Any = None,
    **options: Any,
) -> None:
    """Instrument every installed LLM SDK as it is imported; set up exporters unless the application has providers."""
    with _lock:
        if _active:
            _logger.debug("otel-llmperf is already instrumented; instrument() ignored")
            return
        _instrument_locked(
            load_settings(**options), tracer_provider, meter_provider, logger_provider, prometheus_registry
        )


def _instrument(settings: Settings, *, tracer_provider: Any, meter_provider: Any) -> None:
    """:func:`instrument` with settings already loaded, so a bad variable warns once (the demo's)."""
    with _lock:
        if _active:
            _logger.debug("otel-llmperf is already instrumented; instrument() ignored")
            return
        _instrument_locked(settings, tracer_provider, meter_provider, None, None)


def _instrument_locked(
    settings: Settings, tracer_provider: Any, meter_provider: Any, logger_provider: Any, prometheus_registry: Any
) -> None:
    from otel_llmperf import setup, signals
    from otel_llmperf.providers import hosts

    if settings.sdk_disabled:
        _logger.info("otel-llmperf: OTEL_SDK_DISABLED=true, nothing instrumented")
        return
    if tracer_provider is None or meter_provider is None:
        described = setup.ensure_global_providers(settings, prometheus_registry).describe()
    else:
        described = "using the given tracer and meter providers"
    signals.activate(settings, meter_provider, logger_provider)
    hosts.set_extra_hosts(settings.provider_hosts)
    watching, skipped = [], []
    for provider in catalog.PROVIDERS:
        if provider.name in settings.disabled_instrumentations or "*" in settings.disabled_instrumentations:
            skipped.append(f"{provider.package} (disabled)")
            continue
        # Where the SDK is, not the SDK: nothing of it is imported until the application does.
        if importlib.util.find_spec(provider.package) is None:
            skipped.append(f"{provider.package} (not installed)")
            continue
        hooks = ProviderHooks(provider, settings, tracer_provider, meter_provider)
        _active.append(hooks)
        hooks.start()
        count = hooks.patched_count
        watching.append(f"{provider.package} ({count} methods so far)" if count else provider.package)
    _logger.info(
        "otel-llmperf %s: instrumenting %s as imported%s; %s; content capture %s; stream usage %s; prices %s",
        __version__,
        ", ".join(watching) or "nothing",
        f"; skipped {', '.join(skipped)}" if skipped else "",
        described,
        "on" if settings.capture_content else "off",
        "on" if settings.stream_usage else "off",
        settings.prices.source,
    )


def uninstrument() -> None:
    """Remove every patch and pending import hook :func:`instrument` set, restoring the original SDK methods."""
    from otel_llmperf import experiments

    with _lock:
        for hooks in reversed(_active):
            hooks.stop()
        _active.clear()
        experiments.stop_propagating()
