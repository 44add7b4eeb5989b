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
