# SPDX-License-Identifier: Apache-2.0
"""The settings ``instrument()`` would resolve here, with every warning their parsing gives.

The warnings are the ones :mod:`otel_llmperf.config` logs, captured while the settings are
loaded, plus those of the SDK variables otel-llmperf checks before building providers (each
collected afresh here, although the application logs each only once per process).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from otel_llmperf import _errors
from otel_llmperf.config import (
    BLRP_VARIABLES,
    BSP_VARIABLES,
    LOG_LIMIT_VARIABLES,
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT,
    SPAN_LIMIT_VARIABLES,
    SdkVariables,
    Settings,
    load_settings,
)
from otel_llmperf.doctor.findings import ERROR, INFO, WARNING, Finding
from otel_llmperf.environment_variables import (
    OTEL_PYTHON_LLMPERF_REDACTOR,
    OTEL_PYTHON_LLMPERF_USER_ID_KEY,
)

_LOGGER = "otel_llmperf"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # a record whose arguments do not format: keep what there is
            self.messages.append(str(record.msg))


@contextmanager
def captured_warnings() -> Iterator[list[str]]:
    """Collect what otel-llmperf logs at WARNING or above; nothing reaches the last-resort stderr handler."""
    logger = _errors.logger(_LOGGER).logger  # the logger itself: a handler is added, nothing is logged here
    handler = _Collect()
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class CheckedVariables(SdkVariables):
    """The SDK variables otel-llmperf checks, each bad one collected every time it is read."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__(environ)
        self.problems: list[str] = []

    def bad(self, name: str, raw: str, expected: str, instead: str) -> None:
        """Collect the warning ``SdkVariables`` would log (it logs each only once per process)."""
        message = f"{name}={raw!r} is not {expected}; {instead}"
        if message not in self.problems:
            self.problems.append(message)

    def check_all(self, settings: Settings) -> None:
        """Read every variable the provider set-up reads, so each bad one is collected."""
        self.sdk_trace_importable()
        self.batch(BSP_VARIABLES)
        self.batch(BLRP_VARIABLES)
        self.metric_reader()
        self.exemplar_filter()
        self.limits(SPAN_LIMIT_VARIABLES)
        self.limits(LOG_LIMIT_VARIABLES)
        self.otlp("traces", settings.traces_otlp_protocol)
        self.otlp("metrics", settings.metrics_otlp_protocol)
        self.otlp("logs", settings.logs_otlp_protocol)


def load(environ: Mapping[str, str]) -> tuple[Settings, CheckedVariables, list[Finding]]:
    """Settings as ``instrument()`` resolves them from ``environ``, and one finding per bad value."""
    with captured_warnings() as messages:
        settings = load_settings(environ)
    variables = CheckedVariables(environ)
    variables.check_all(settings)
    problems = [*messages, *variables.problems]
    findings = [Finding("config", WARNING, "config", message, data={"warning": message}) for message in problems]
    return settings, variables, findings


def privacy_findings(settings: Settings, environ: Mapping[str, str]) -> list[Finding]:
    """Content capture, the redactor and user ids, as these settings record them."""
    findings: list[Finding] = []
    redactor = (environ.get(OTEL_PYTHON_LLMPERF_REDACTOR) or "").strip() or None
    data = {
        "capture_content": settings.capture_content,
        "max_length": settings.content_max_length,
        "redactor": redactor,
    }
    if settings.redactor_failed:
        findings.append(
            Finding(
                "privacy",
                ERROR,
                "capture",
                f"redactor {redactor!r} could not be loaded: no content is captured",
                f"set {OTEL_PYTHON_LLMPERF_REDACTOR} to a registered name ('basic' ships)",
                data,
            )
        )
    elif settings.capture_content:
        how = f"redactor {redactor}" if redactor else "no redactor: prompts and completions go out as they are"
        message = f"on, up to {settings.content_max_length} characters per message; {how}"
        findings.append(Finding("privacy", INFO, "capture", message, data=data))
    else:
        message = f"off: no prompts or completions ({OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT})"
        findings.append(Finding("privacy", INFO, "capture", message, data=data))
    if settings.user_id_key:
        message = "exported as user.hash (keyed HMAC), never raw"
    else:
        message = f"dropped ({OTEL_PYTHON_LLMPERF_USER_ID_KEY} unset)"
    findings.append(Finding("privacy", INFO, "user ids", message, data={"hashed": bool(settings.user_id_key)}))
    return findings


def price_findings(settings: Settings, environ: Mapping[str, str]) -> list[Finding]:
    """Where the prices behind ``llmperf.usage.cost`` come from (loading them, as the first SDK import does)."""
    prices = settings.prices
    prices.warm()
    severity = WARNING if prices.bundled and prices.failure is not None else INFO
    data = {"source": prices.source, "as_of": prices.as_of}
    fix = "reinstall otel-llmperf (genai-prices), or price your models with OTEL_PYTHON_LLMPERF_PRICES"
    return [
        Finding(
            "cost",
            severity,
            "prices",
            f"{prices.source}; unknown models cost nothing",
            fix=fix if severity == WARNING else None,
            data=data,
        )
    ]
