# SPDX-License-Identifier: Apache-2.0
"""The subjects measured, how each is installed, and how each is switched on and off.

Imported by the runner (only the :data:`SUBJECTS` table, no SDK) and by the workers, which
import a subject's package lazily inside the venv that has it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import wrapt

from common import Sinks


@dataclass(frozen=True)
class SubjectSpec:
    """One row of the results table."""

    name: str
    label: str
    venv: str | None  # directory under bench/.venvs; None: the runner's own environment
    # What pip installs into ``venv``. No global --pre (it would pull unrelated dev releases):
    # a peer that only has beta releases names a beta in its specifier, which admits them.
    requirement: str | None
    distribution: str  # whose version the table shows
    module: str = ""  # where ``OpenAIInstrumentor`` lives (peers only)
    extras: tuple[str, ...] = ()  # what else the peer needs to import at all on these versions
    env: dict[str, str] = field(default_factory=dict)  # settings beyond the scrubbed defaults
    note: str = ""
    main: bool = True  # False: a variant reported below the main table


SUBJECTS: dict[str, SubjectSpec] = {
    spec.name: spec
    for spec in (
        SubjectSpec(
            "ours",
            "otel-llmperf (ours)",
            None,
            None,
            "otel-llmperf",
            note="defaults: content capture off, no usage injection (the request asks for usage itself)",
        ),
        SubjectSpec(
            "floor",
            "floor (hand-written)",
            None,
            None,
            "opentelemetry-sdk",
            note="bench/floor.py: same span attributes and metric records as ours, inline around the plain call",
        ),
        SubjectSpec(
            "openai-v2",
            "opentelemetry-instrumentation-openai-v2",
            "openai-v2",
            "opentelemetry-instrumentation-openai-v2>=2.0b0",  # only betas exist; this admits them
            "opentelemetry-instrumentation-openai-v2",
            module="opentelemetry.instrumentation.openai_v2",
            # 2.4b0 imports httpx (openai 3 depends on httpx2 instead) and
            # opentelemetry.util.genai.instruments (gone in util-genai 1.2): without these it cannot load.
            extras=("httpx<1", "opentelemetry-util-genai>=1.0b0,<1.2"),
            note="defaults: semconv 1.30 path, content capture off, events to the no-op logger provider;"
            " needs httpx and opentelemetry-util-genai<1.2 added to import at all",
        ),
        SubjectSpec(
            "openllmetry",
            "OpenLLMetry opentelemetry-instrumentation-openai",
            "openllmetry",
            "opentelemetry-instrumentation-openai",
            "opentelemetry-instrumentation-openai",
            module="opentelemetry.instrumentation.openai",
            note="defaults: captures prompts and completions on the span (TRACELOOP_TRACE_CONTENT=true)",
        ),
        SubjectSpec(
            "genai-openai",
            "opentelemetry-instrumentation-genai-openai",
            "genai-openai",
            "opentelemetry-instrumentation-genai-openai>=1.0b0",
            "opentelemetry-instrumentation-genai-openai",
            module="opentelemetry.instrumentation.genai.openai",
            note="defaults: latest GenAI semconv via opentelemetry-util-genai, content capture off",
        ),
        SubjectSpec(
            "patch-only",
            "wrapt pass-through wrapper only",
            None,
            None,
            "wrapt",
            note="reference: the sync and async create() wrapped by wrapt with a wrapper that only calls"
            " through; the price of patching, with no telemetry",
            main=False,
        ),
        SubjectSpec(
            "ours-nochunk",
            "otel-llmperf, per-chunk metric off",
            None,
            None,
            "otel-llmperf",
            env={"OTEL_PYTHON_LLMPERF_CHUNK_METRICS": "false"},
            note="variant: OTEL_PYTHON_LLMPERF_CHUNK_METRICS=false (no time_per_output_chunk; not the default)",
            main=False,
        ),
        SubjectSpec(
            "openllmetry-nocontent",
            "OpenLLMetry, content capture off",
            "openllmetry",
            "opentelemetry-instrumentation-openai",
            "opentelemetry-instrumentation-openai",
            module="opentelemetry.instrumentation.openai",
            env={"TRACELOOP_TRACE_CONTENT": "false"},
            note="variant: TRACELOOP_TRACE_CONTENT=false (not the default)",
            main=False,
        ),
    )
}


def version_of(distribution: str) -> str:
    """An installed distribution's version, or ``"?"``."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"


class Subject:
    """A subject inside a worker: ``enable``/``disable`` toggle it, ``floor`` says which calls to time."""

    floor = False

    def enable(self) -> None:
        """Switch the instrumentation on (between batches, never while timing)."""

    def disable(self) -> None:
        """Switch it off again, restoring the SDK exactly."""


class Ours(Subject):
    """otel-llmperf through its public API, with the shared providers passed explicitly."""

    def __init__(self, sinks: Sinks) -> None:
        import otel_llmperf  # lazily: installed only where this subject runs

        self._module = otel_llmperf
        self._sinks = sinks

    def enable(self) -> None:
        self._module.instrument(tracer_provider=self._sinks.tracer_provider, meter_provider=self._sinks.meter_provider)

    def disable(self) -> None:
        self._module.uninstrument()


class Peer(Subject):
    """A peer's ``OpenAIInstrumentor``, configured as its README shows, with the shared providers."""

    def __init__(self, sinks: Sinks, module: str) -> None:
        instrumentor: Callable[[], Any] = importlib.import_module(module).OpenAIInstrumentor
        self._instrumentor = instrumentor()
        self._sinks = sinks

    def enable(self) -> None:
        self._instrumentor.instrument(
            tracer_provider=self._sinks.tracer_provider, meter_provider=self._sinks.meter_provider
        )

    def disable(self) -> None:
        self._instrumentor.uninstrument()


class PatchOnly(Subject):
    """``Completions.create`` and ``AsyncCompletions.create`` wrapped by a wrapper that only calls through."""

    def __init__(self) -> None:
        from openai.resources.chat import completions

        self._classes = (completions.Completions, completions.AsyncCompletions)
        self._originals = [vars(cls)["create"] for cls in self._classes]

    @staticmethod
    def _through(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return wrapped(*args, **kwargs)

    def enable(self) -> None:
        for cls in self._classes:
            wrapt.wrap_function_wrapper(cls, "create", self._through)

    def disable(self) -> None:
        for cls, original in zip(self._classes, self._originals, strict=True):
            cls.create = original


class FloorSubject(Subject):
    """The hand-written floor: nothing to toggle; the B batches call :mod:`floor` functions instead."""

    floor = True

    def __init__(self, sinks: Sinks) -> None:
        from floor import Floor  # lazily: only the floor needs it

        self.impl = Floor(sinks.tracer_provider, sinks.meter_provider)


def make_subject(spec: SubjectSpec, sinks: Sinks) -> Subject:
    """The worker-side object for ``spec``."""
    if spec.name in ("ours", "ours-nochunk"):
        return Ours(sinks)
    if spec.name == "floor":
        return FloorSubject(sinks)
    if spec.name == "patch-only":
        return PatchOnly()
    return Peer(sinks, spec.module)
