# SPDX-License-Identifier: Apache-2.0
"""Fault injection: every OpenTelemetry hook and logging handler that raises, and the host does not notice.

For each hook (span processor ``on_start``/``on_end``, span exporter, metric exporter, instruments
that raise on record, handlers of ``otel_llmperf`` and ``otel_llmperf.calls``, the redaction hook)
and each way a call can go (a response, a stream read to its end, closed early, broken off in a
``with`` block, left by the caller's own exception, abandoned, cut by the server, and the SDK's
own errors), the application must see exactly what it sees uninstrumented: the same values and
chunks, the same exception class, and its own exception object where it raised one.
"""

from __future__ import annotations

import ast
import gc
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal.exemplar import ExemplarFilter
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind

import otel_llmperf
from conftest import make_client
from fakeserver import FakeServerProcess
from helpers import drain, resolve, take, total_count
from otel_llmperf.registry import REGISTRY

MODEL = "fault-model"  # not in the price table: its first call logs a warning at default levels
MESSAGES = [{"role": "user", "content": "Say hello to the world"}]
DURATION = "gen_ai.client.operation.duration"


class HookError(Exception):
    """What every injected fault raises: the application must never see it."""


class CallerError(Exception):
    """The application's own exception, raised inside a stream's ``with`` block."""


# --- the faulty hooks -----------------------------------------------------------------------


class RaisingProcessor(SpanProcessor):
    def __init__(self, on_start: bool = False, on_end: bool = False) -> None:
        self.start, self.end = on_start, on_end

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.start:
            raise HookError("on_start")

    def on_end(self, span: Any) -> None:
        if self.end:
            raise HookError("on_end")


class RaisingSpanExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        raise HookError("span export")


class RaisingMetricExporter(MetricExporter):
    def __init__(self) -> None:
        super().__init__()

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        raise HookError("metric export")

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


class RaisingExemplarFilter(ExemplarFilter):
    """Consulted by the SDK on every measurement: a meter provider whose instruments raise."""

    def should_sample(self, value: Any, time_unix_nano: int, attributes: Any, context: Any) -> bool:
        raise HookError("record")


class RaisingLogProcessor(LogRecordProcessor):
    def on_emit(self, log_record: Any) -> None:
        raise HookError("log record processor")

    def emit(self, log_record: Any) -> None:
        raise HookError("log record processor")

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class RaisingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.calls = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.calls += 1
        raise HookError(f"handler for {record.name}")


def raising_redactor(text: str) -> str:
    raise HookError("redactor")


@dataclass
class Faulty:
    """The providers and options one fault is injected through."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    reader: InMemoryMetricReader
    options: dict[str, Any] = field(default_factory=dict)
    handler: RaisingHandler | None = None
    restore: Callable[[], None] = lambda: None


def _build(hook: str, monkeypatch: pytest.MonkeyPatch) -> Faulty:
    tracer_provider = TracerProvider()
    reader = InMemoryMetricReader()
    readers: list[Any] = [reader]
    exemplar_filter = None
    logger_provider = LoggerProvider()
    faulty = Faulty(tracer_provider, MeterProvider(), logger_provider, reader)
    if hook == "on_start":
        tracer_provider.add_span_processor(RaisingProcessor(on_start=True))
    elif hook == "on_end":
        tracer_provider.add_span_processor(RaisingProcessor(on_end=True))
    elif hook == "span_export":
        tracer_provider.add_span_processor(SimpleSpanProcessor(RaisingSpanExporter()))
    elif hook == "metric_export":
        readers.append(PeriodicExportingMetricReader(RaisingMetricExporter(), export_interval_millis=5))
    elif hook == "instruments":
        exemplar_filter = RaisingExemplarFilter()
    elif hook == "event_processor":
        logger_provider.add_log_record_processor(RaisingLogProcessor())
    elif hook in ("log_handler", "calls_handler"):
        name = "otel_llmperf" if hook == "log_handler" else "otel_llmperf.calls"
        target = logging.getLogger(name)
        faulty.handler = RaisingHandler()
        # Every level reaches the handler: warnings, internal-error reports and call logs alike.
        # setLevel, not an attribute patch: loggers cache isEnabledFor and only setLevel clears it.
        previous = target.level
        target.setLevel(logging.DEBUG)
        faulty.restore = lambda: target.setLevel(previous)
        monkeypatch.setattr(target, "handlers", [*target.handlers, faulty.handler])
        if hook == "calls_handler":
            faulty.options["log_calls"] = True
    elif hook == "redactor":
        faulty.options.update(capture_content=True, redact=raising_redactor)
    else:  # pragma: no cover - a typo in a parameter list
        raise AssertionError(hook)
    faulty.meter_provider = MeterProvider(metric_readers=readers, exemplar_filter=exemplar_filter)
    return faulty


HOOKS = [
    "on_start",
    "on_end",
    "span_export",
    "metric_export",
    "instruments",
    "log_handler",
    "calls_handler",
    "event_processor",
    "redactor",
]


@dataclass
class Session:
    """An instrumentation with one fault injected, undone after the test."""

    faulty: Faulty
    hook: str
    active: bool = False

    def instrument(self) -> None:
        otel_llmperf.instrument(
            tracer_provider=self.faulty.tracer_provider,
            meter_provider=self.faulty.meter_provider,
            logger_provider=self.faulty.logger_provider,
            **self.faulty.options,
        )
        self.active = True


@pytest.fixture(name="session")
def fixture_session(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    session = Session(_build(request.param, monkeypatch), request.param)
    try:
        yield session
    finally:
        otel_llmperf.uninstrument()
        REGISTRY.clear()
        session.faulty.restore()
        session.faulty.meter_provider.shutdown()


@pytest.fixture(name="unraisable")
def fixture_unraisable(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Errors raised where nobody can catch them (``__del__``): none may come from us."""
    seen: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


# --- what the application does, and what it sees -------------------------------------------


Outcome = tuple[str, Any]


def _text(chunk: Any) -> Any:
    choices = getattr(chunk, "choices", None)
    if choices:
        return choices[0].delta.content
    delta = getattr(chunk, "delta", None)  # anthropic events
    return getattr(delta, "text", None) or getattr(chunk, "type", None)


async def _open(client: Any, provider: str, stream: bool, **headers: str) -> Any:
    options: dict[str, Any] = {"extra_headers": {f"x-fake-{key.replace('_', '-')}": v for key, v in headers.items()}}
    if headers.get("ttft"):
        options["timeout"] = 0.05  # the server waits 2 s: the SDK's APITimeoutError
    if provider == "anthropic":
        return await resolve(
            client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES, stream=stream, **options)
        )
    return await resolve(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=stream, **options))


def _helper(client: Any, provider: str) -> Any:
    # The SDKs' stream helpers: a manager whose with block opens (and closes) the stream.
    if provider == "anthropic":
        return client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES)
    return client.chat.completions.stream(model=MODEL, messages=MESSAGES)


async def _helper_texts(client: Any, provider: str, mode: str) -> list[Any]:
    kinds = []
    if mode == "sync":
        with _helper(client, provider) as stream:
            kinds = [getattr(event, "type", None) for event in stream]
    else:
        async with _helper(client, provider) as stream:
            kinds = [getattr(event, "type", None) async for event in stream]
    return kinds


def _content(response: Any) -> Any:
    if isinstance(response, anthropic.types.Message):
        return [getattr(block, "text", None) for block in response.content]
    return [choice.message.content for choice in response.choices]


async def _with_block(stream: Any, mode: str, body: Callable[[Any], Any]) -> Any:
    # A real with/async-with statement, as the application writes it.
    if mode == "sync":
        with stream:
            return body(stream)
    async with stream:
        return await resolve(body(stream))


async def _first_then_break(stream: Any) -> list[Any]:
    seen = []
    if hasattr(stream, "__anext__"):
        async for chunk in stream:
            seen.append(_text(chunk))
            break
    else:
        for chunk in stream:
            seen.append(_text(chunk))
            break
    return seen


async def scenario_outcome(name: str, client: Any, mode: str, provider: str, unraisable: list[Any]) -> Outcome:
    """Run one scenario; what the application saw: ("ok", values) or ("raised", exception)."""
    try:
        if name == "create":
            return "ok", _content(await _open(client, provider, False))
        if name == "rate_limit":
            await _open(client, provider, False, error="429")
        elif name == "timeout":
            await _open(client, provider, False, ttft="2")
        elif name == "stream_rate_limit":
            await _open(client, provider, True, error="429")
        elif name == "stream_end":
            return "ok", [_text(chunk) for chunk in await drain(await _open(client, provider, True))]
        elif name == "stream_cut":
            await drain(await _open(client, provider, True, error="disconnect", error_after="2"))
        elif name == "stream_close":
            stream = await _open(client, provider, True)
            first = _text(await take(stream))
            closed = await resolve(stream.close())
            return "ok", (first, closed)
        elif name == "stream_break_with":
            stream = await _open(client, provider, True)
            if mode == "sync":
                with stream:
                    seen = []
                    for chunk in stream:
                        seen.append(_text(chunk))
                        break
            else:
                async with stream:
                    seen = await _first_then_break(stream)
            return "ok", seen
        elif name == "stream_caller_error":
            stream = await _open(client, provider, True)
            error = CallerError("the application's own")

            def fail(opened: Any) -> Any:
                raise error

            try:
                await _with_block(stream, mode, fail)
            except CallerError as raised:
                assert raised is error  # the very object, not a copy or a replacement
                raise
        elif name == "raw_response":
            raw = await resolve(client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES))
            parsed = await resolve(raw.parse())
            return "ok", (raw.status_code, _content(parsed))
        elif name == "helper_stream":
            return "ok", await _helper_texts(client, provider, mode)
        elif name == "stream_abandoned":
            stream = await _open(client, provider, True)
            first = _text(await take(stream))
            del stream
            gc.collect(0)  # the proxy is young; a full collection costs a second with the SDKs loaded
            return "ok", (first, list(unraisable))
        else:  # pragma: no cover - a typo in a parameter list
            raise AssertionError(name)
    except Exception as error:
        return "raised", type(error)
    return "ok", None


_BASELINES: dict[tuple[str, str, str], Outcome] = {}


async def baseline(name: str, client: Any, mode: str, provider: str) -> Outcome:
    """The outcome without instrumentation (computed once per scenario, mode and provider)."""
    key = (name, mode, provider)
    if key not in _BASELINES:
        _BASELINES[key] = await scenario_outcome(name, client, mode, provider, [])
    return _BASELINES[key]


OPENAI_SCENARIOS = [
    "create",
    "rate_limit",
    "timeout",
    "stream_rate_limit",
    "stream_end",
    "stream_cut",
    "stream_close",
    "stream_break_with",
    "stream_caller_error",
    "stream_abandoned",
    "helper_stream",
    "raw_response",
]


@pytest.mark.parametrize("scenario", OPENAI_SCENARIOS)
@pytest.mark.parametrize("session", HOOKS, indirect=True)
async def test_openai_host_sees_what_it_sees_uninstrumented(
    scenario: str, session: Session, mode: str, fake_server: FakeServerProcess, unraisable: list[Any]
) -> None:
    client = make_client(mode, fake_server.base_url)
    expected = await baseline(scenario, client, mode, "openai")
    session.instrument()
    assert await scenario_outcome(scenario, client, mode, "openai", unraisable) == expected
    assert unraisable == []
    if session.faulty.handler is not None and scenario == "create":
        assert session.faulty.handler.calls > 0  # the fault was met, not skipped
    if scenario == "stream_abandoned" and session.faulty.reader is not None and "instruments" not in session.hook:
        # The finaliser ran, and ended the call, through the broken hook.
        assert total_count(session.faulty.reader, DURATION, {"error.type": "abandoned"}) == 1


# --- anthropic: a smaller matrix ----------------------------------------------------------------


@pytest.fixture(name="anthropic_client")
async def fixture_anthropic_client(mode: str, fake_server: FakeServerProcess) -> Any:
    cls = anthropic.AsyncAnthropic if mode == "async" else anthropic.Anthropic
    client = cls(base_url=f"{fake_server.url}/anthropic", api_key="test-key", max_retries=0, timeout=10.0)
    yield client
    await resolve(client.close())


@pytest.mark.parametrize(
    "scenario",
    [
        "create",
        "rate_limit",
        "timeout",
        "stream_end",
        "stream_close",
        "stream_break_with",
        "stream_caller_error",
        "stream_cut",
        "helper_stream",
    ],
)
@pytest.mark.parametrize("session", ["on_start", "on_end", "instruments", "log_handler"], indirect=True)
async def test_anthropic_host_sees_what_it_sees_uninstrumented(
    scenario: str, session: Session, mode: str, anthropic_client: Any, unraisable: list[Any]
) -> None:
    expected = await baseline(scenario, anthropic_client, mode, "anthropic")
    session.instrument()
    assert await scenario_outcome(scenario, anthropic_client, mode, "anthropic", unraisable) == expected
    assert unraisable == []


# --- the telemetry that does not depend on the broken hook goes on --------------------------


@pytest.mark.parametrize("session", ["on_start", "on_end", "log_handler", "redactor"], indirect=True)
async def test_metrics_are_still_recorded_past_a_broken_hook(
    session: Session, mode: str, fake_server: FakeServerProcess
) -> None:
    session.instrument()
    client = make_client(mode, fake_server.base_url)
    await _open(client, "openai", False)
    await drain(await _open(client, "openai", True))
    assert total_count(session.faulty.reader, DURATION) == 2


@pytest.mark.parametrize("session", ["event_processor", "log_handler", "instruments"], indirect=True)
async def test_feedback_and_evaluation_never_raise_on_a_broken_hook(
    session: Session, fake_server: FakeServerProcess
) -> None:
    session.instrument()
    client = make_client("sync", fake_server.base_url)
    response = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    feedback = otel_llmperf.record_feedback("thumbs", True, response=response)
    assert feedback.matched and feedback.label == "up"
    otel_llmperf.record_evaluation("accuracy", score=1.0, response=response)
    token = otel_llmperf.feedback_token(response)
    assert otel_llmperf.record_feedback("rating", 4, token=token).score is not None


@pytest.mark.parametrize("session", ["instruments"], indirect=True)
async def test_a_broken_meter_does_not_cost_the_feedback_event(
    session: Session, fake_server: FakeServerProcess
) -> None:
    exporter = InMemoryLogRecordExporter()
    session.faulty.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    session.instrument()
    client = make_client("sync", fake_server.base_url)
    response = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    otel_llmperf.record_feedback("thumbs", True, response=response)
    otel_llmperf.record_evaluation("accuracy", score=1.0, response=response)
    names = [data.log_record.event_name for data in exporter.get_finished_logs()]
    assert names == ["gen_ai.evaluation.result", "gen_ai.evaluation.result"]


@pytest.mark.parametrize("session", ["log_handler"], indirect=True)
def test_instrument_and_uninstrument_never_raise_on_a_broken_handler(session: Session) -> None:
    session.instrument()
    otel_llmperf.instrument()  # already instrumented: logged at debug, to the raising handler
    otel_llmperf.uninstrument()
    session.instrument()
    assert session.faulty.handler is not None and session.faulty.handler.calls > 0


# --- the boundary holds everywhere ------------------------------------------------------------

SRC = Path(otel_llmperf.__file__).parent
# Outside the application's calls: the command line, the report and the demo own their logging.
UNGUARDED = ("_errors.py", "cli.py", "report", "demo")
_ROOT_LOGGING = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}


def _raw_logging(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (isinstance(func, ast.Name) and func.id == "getLogger") or (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "logging"
            and (func.attr == "getLogger" or func.attr in _ROOT_LOGGING)
        ):
            lines.append(node.lineno)
    return lines


def test_every_module_logs_through_the_safe_logger() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        if relative.parts[0] in UNGUARDED:
            continue
        offenders += [f"{relative}:{line}" for line in _raw_logging(ast.parse(path.read_text(encoding="utf-8")))]
    # A raw logger raises whatever its handlers raise: use otel_llmperf._errors.logger(name).
    assert offenders == []


def test_the_structural_check_sees_a_raw_logger() -> None:
    assert _raw_logging(ast.parse('import logging\n_logger = logging.getLogger("otel_llmperf")')) == [2]
    assert _raw_logging(ast.parse("from logging import getLogger\nlog = getLogger(__name__)")) == [2]
    assert _raw_logging(ast.parse("import logging\nlogging.warning('x')")) == [2]
    assert _raw_logging(ast.parse("from otel_llmperf import _errors\n_logger = _errors.logger('x')")) == []


# --- handlers at default levels ---------------------------------------------------------------


@pytest.fixture(name="raising_handler")
def fixture_raising_handler(monkeypatch: pytest.MonkeyPatch) -> RaisingHandler:
    """A handler that raises, on the ``otel_llmperf`` logger at its default level (WARNING via root)."""
    handler = RaisingHandler()
    target = logging.getLogger("otel_llmperf")
    monkeypatch.setattr(target, "handlers", [*target.handlers, handler])
    return handler


async def test_a_raising_handler_at_default_levels_does_not_fail_the_call(
    raising_handler: RaisingHandler,
    instrument: Callable[..., None],
    mode: str,
    fake_server: FakeServerProcess,
    capsys: pytest.CaptureFixture[str],
) -> None:
    instrument()
    client = make_client(mode, fake_server.base_url)
    # An unpriced model: its first call logs a warning, which the handler turns into an error.
    response = await resolve(client.chat.completions.create(model=f"never-priced-{mode}", messages=MESSAGES))
    assert response.choices[0].message.content
    assert raising_handler.calls >= 1


def test_report_never_raises_and_says_once_on_stderr_that_a_handler_fails(
    raising_handler: RaisingHandler, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from otel_llmperf import _errors

    monkeypatch.setattr(_errors, "_handler_failed", False)
    _errors.report("a test of the boundary", ValueError("ours"))
    _errors.report("another test of the boundary", ValueError("ours"))
    assert raising_handler.calls == 2
    assert capsys.readouterr().err.count("a logging handler of 'otel_llmperf' raised HookError") == 1


def test_the_safe_logger_keeps_extra_levels_and_the_callers_line(caplog: pytest.LogCaptureFixture) -> None:
    from otel_llmperf import _errors

    caplog.set_level(logging.INFO, logger="otel_llmperf.calls")
    _errors.logger("otel_llmperf.calls").info("hello %s", "there", extra={"llmperf": {"a": 1}})
    (record,) = caplog.records
    assert record.getMessage() == "hello there" and record.llmperf == {"a": 1}  # type: ignore[attr-defined]
    assert record.pathname == __file__  # attributed to the caller, not to the adapter


class _UnreadableSpan(NonRecordingSpan):
    """A foreign CLIENT span (some other tracer's) whose attributes cannot be read."""

    kind = SpanKind.CLIENT

    def is_recording(self) -> bool:
        return True

    @property
    def attributes(self) -> Any:
        raise HookError("attributes unavailable")


async def test_an_unreadable_foreign_span_does_not_fail_the_call(
    instrument: Callable[..., None], client: Any, mode: str, metric_reader: InMemoryMetricReader
) -> None:
    # The layering check reads the current span; whatever it finds there, the call goes on and is recorded.
    instrument()
    span = _UnreadableSpan(SpanContext(1, 2, is_remote=False))
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        response = await resolve(client.chat.completions.create(model=MODEL, messages=MESSAGES))
    finally:
        otel_context.detach(token)
    assert response.choices[0].message.content
    assert total_count(metric_reader, DURATION) == 1
