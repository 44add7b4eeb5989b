# SPDX-License-Identifier: Apache-2.0
"""Environment variables specific to otel-llmperf.

Registered under the ``opentelemetry_environment_variables`` entry-point group, so
``opentelemetry-instrument`` also accepts each of them as a command-line flag.
Standard ``OTEL_*`` variables (exporters, service name, content capture) are read as the
OpenTelemetry specification defines them; see :mod:`otel_llmperf.config`.
"""

from __future__ import annotations

OTEL_PYTHON_LLMPERF_STREAM_USAGE = "OTEL_PYTHON_LLMPERF_STREAM_USAGE"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_STREAM_USAGE

``true`` asks OpenAI-style streams for a final usage chunk (``stream_options.include_usage``)
when the caller did not set ``stream_options``, and hides that extra chunk from the caller.
Default: ``false``. Keyword: ``stream_usage``.
"""

OTEL_PYTHON_LLMPERF_SDK_SPANS = "OTEL_PYTHON_LLMPERF_SDK_SPANS"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_SDK_SPANS

``true`` keeps the span an SDK that traces itself (anthropic) starts for each call, as a child
of the span that records the call. By default that SDK span is not started while otel-llmperf
or another GenAI instrumentation records the call, so each call has one GenAI CLIENT span; the
SDK's requests still carry the trace context. Default: ``false``. Keyword: ``sdk_spans``.
"""

OTEL_PYTHON_LLMPERF_CONTENT_MAX_LENGTH = "OTEL_PYTHON_LLMPERF_CONTENT_MAX_LENGTH"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_CONTENT_MAX_LENGTH

Upper bound, in characters, of each captured ``gen_ai.input.messages`` /
``gen_ai.output.messages`` JSON value; longer texts are shortened so the JSON stays valid.
Default: ``16384``. Keyword: ``content_max_length``.
"""

OTEL_PYTHON_LLMPERF_CHUNK_METRICS = "OTEL_PYTHON_LLMPERF_CHUNK_METRICS"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_CHUNK_METRICS

``false`` skips ``gen_ai.client.operation.time_per_output_chunk``, the one metric recorded per
stream chunk rather than per call; time to first chunk and time per output token stay. Turn it
off for very high chunk rates: one histogram record costs ~11 µs of CPU in the OpenTelemetry SDK.
Default: ``true``. Keyword: ``chunk_metrics``.
"""

OTEL_PYTHON_LLMPERF_PROVIDER_HOSTS = "OTEL_PYTHON_LLMPERF_PROVIDER_HOSTS"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_PROVIDER_HOSTS

Extra ``host-suffix=provider`` pairs, comma separated (``llm.internal=vllm``), that name the
``gen_ai.provider.name`` of OpenAI-compatible servers; checked before the built-in table.
Keyword: ``provider_hosts`` (a mapping).
"""

OTEL_PYTHON_LLMPERF_VARIANT = "OTEL_PYTHON_LLMPERF_VARIANT"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_VARIANT

The A/B variant of this process (``llmperf.variant`` on spans, metrics, feedback and
evaluations) where no ``otel_llmperf.variant(...)`` block says otherwise. Keyword: ``variant``.
"""

OTEL_PYTHON_LLMPERF_MAX_VARIANTS = "OTEL_PYTHON_LLMPERF_MAX_VARIANTS"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_MAX_VARIANTS

How many distinct variant names are kept; later ones fold into ``_other`` with a warning, so a
bug cannot explode metric cardinality. Default: ``16``. Keyword: ``max_variants``.
"""

OTEL_PYTHON_LLMPERF_MAX_MODELS = "OTEL_PYTHON_LLMPERF_MAX_MODELS"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_MAX_MODELS

How many distinct model names are kept on metrics and span names, for ``gen_ai.request.model``
and ``gen_ai.response.model`` each (from SDK calls, evaluations and signed feedback tokens;
unsigned tokens get a budget of the same size of their own); later new ones are recorded as
``_other`` with one warning. Names are cut to 256 characters. Default: ``100``. Keyword:
``max_models``.
"""

OTEL_PYTHON_LLMPERF_MAX_LABEL_VALUES = "OTEL_PYTHON_LLMPERF_MAX_LABEL_VALUES"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_MAX_LABEL_VALUES

How many distinct values are kept for every other metric label an application or a remote
peer chooses: ``server.address``, ``error.type`` reported by a server, provider and operation
names given to evaluations or in feedback tokens, evaluation names and classes, declared
feedback labels, OpenAI system fingerprints and finish reasons; later new ones are recorded
as ``_other`` with one warning per label.
Default: ``100``. Keyword: ``max_label_values``.
"""

OTEL_PYTHON_LLMPERF_FEEDBACK_SECRET = "OTEL_PYTHON_LLMPERF_FEEDBACK_SECRET"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_FEEDBACK_SECRET

Secret that signs feedback tokens (HMAC-SHA256). With it set, unsigned, forged or altered
tokens are rejected. Every process that issues or accepts tokens needs the same value.
Keyword: ``feedback_secret``.
"""

OTEL_PYTHON_LLMPERF_FEEDBACK_TOKEN_TTL = "OTEL_PYTHON_LLMPERF_FEEDBACK_TOKEN_TTL"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_FEEDBACK_TOKEN_TTL

Seconds a feedback token stays valid; ``0`` means forever. Default: ``604800`` (7 days).
Keyword: ``feedback_token_ttl``.
"""

OTEL_PYTHON_LLMPERF_FEEDBACK_MAX_CALLS = "OTEL_PYTHON_LLMPERF_FEEDBACK_MAX_CALLS"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_FEEDBACK_MAX_CALLS

How many recent calls are remembered (by response id) so later feedback is attributed to
their model, provider, operation and variant; the oldest go first. ``0`` remembers none.
Default: ``10000`` (about 1 KB per call, so about 10 MB). Keyword: ``feedback_max_calls``.
"""

OTEL_PYTHON_LLMPERF_FEEDBACK_RETENTION = "OTEL_PYTHON_LLMPERF_FEEDBACK_RETENTION"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_FEEDBACK_RETENTION

Seconds a call is remembered for feedback. Default: ``3600``. Keyword: ``feedback_retention``.
"""

OTEL_PYTHON_LLMPERF_USER_ID_KEY = "OTEL_PYTHON_LLMPERF_USER_ID_KEY"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_USER_ID_KEY

Key of the HMAC-SHA256 that turns user identifiers into ``user.hash``. Without it user
identifiers are dropped, never exported. Keyword: ``user_id_key``.
"""

OTEL_PYTHON_LLMPERF_CONSENT_DEFAULT = "OTEL_PYTHON_LLMPERF_CONSENT_DEFAULT"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_CONSENT_DEFAULT

The consent decision of a call made outside every ``otel_llmperf.consent()`` block when the
application gives no ``consent=`` callable. ``true`` (the default) exports what content capture
and the user-id key allow; ``false`` exports a call's content, feedback comments and user hash
only inside ``consent(True)`` or when the callable says so (opt-in). Keyword: ``consent_default``.
"""

OTEL_PYTHON_LLMPERF_REDACTOR = "OTEL_PYTHON_LLMPERF_REDACTOR"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_REDACTOR

Name of a redaction hook registered in the ``otel_llmperf_redactors`` entry-point group
(``basic`` ships with the package) that rewrites every captured text before it reaches a span
or an event. Keyword: ``redact`` (a callable ``str -> str``, or such a name).
"""

OTEL_PYTHON_LLMPERF_LOG_CALLS = "OTEL_PYTHON_LLMPERF_LOG_CALLS"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_LOG_CALLS

``true`` writes one structured record per LLM call to the ``otel_llmperf.calls`` logger.
Default: ``false``. Keyword: ``log_calls``.
"""

OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT = "OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT

Seconds the providers otel-llmperf set up (never the application's own) may add to the
application's exit while they flush; what is not delivered by then is dropped and counted in
one warning line. A number from ``0`` to ``600``. Default: ``2``. Keyword: ``shutdown_timeout``.
"""

OTEL_PYTHON_LLMPERF_PRICES = "OTEL_PYTHON_LLMPERF_PRICES"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_PRICES

Path of a JSON (or ``.yaml``) price file, USD per million tokens, laid over genai-prices' bundled
data (it wins): ``{"prices": {"my-model": {"input": 1.0, "output": 2.0, "cached_input": 0.1}}}``;
with ``"replace": true`` the bundled data is not used. Keyword: ``prices`` (a path or a mapping).
"""

OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR = "OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR

A directory shared by the processes of one application (gunicorn or uvicorn workers): each
writes its series there, and whichever holds the Prometheus port serves the sum of all of
them; the others take the port over when its holder exits. Created if missing; wipe it between
runs. prometheus_client's ``PROMETHEUS_MULTIPROC_DIR`` is not read. Keyword:
``prometheus_multiproc_dir``.
"""

OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_INTERVAL = "OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_INTERVAL"
"""
.. envvar:: OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_INTERVAL

Milliseconds between two writes of a process's file in multi-process mode (and between two
tries at the port); also the most a worker killed by SIGKILL can lose. Default: ``1000``.
Keyword: ``prometheus_multiproc_interval``.
"""
