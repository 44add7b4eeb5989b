# SPDX-License-Identifier: Apache-2.0
"""How one provider SDK is patched: its telemetry, the wrappers, layering, and exact removal.

Imported only once an SDK module is imported (see :mod:`otel_llmperf.hooks`, which decides
when): everything here is on the path of the first instrumented import, never of
``import otel_llmperf`` or ``instrument()``.
"""

from __future__ import annotations

import copy
import functools
import importlib
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import NoOpHistogram
from opentelemetry.semconv.schemas import Schemas
from opentelemetry.trace import NonRecordingSpan, NoOpTracer
from wrapt import wrap_function_wrapper

from otel_llmperf import _errors
from otel_llmperf.config import Settings
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
from otel_llmperf.providers.base import PatchTarget, ProviderAdapter
from otel_llmperf.version import __version__
from otel_llmperf.wrappers import Wrapper, make_wrapper

_logger = _errors.logger("otel_llmperf")
SCOPE = "otel_llmperf"
# The GenAI streaming metrics (time to first chunk, per chunk) arrived in semconv 1.41.
SCHEMA_URL = Schemas.V1_41_0.value


@dataclass
class Patch:
    """One SDK attribute we wrapped, and what to put back."""

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


def _dispatch(patch: Patch, full: Wrapper, companion: Wrapper) -> Wrapper:
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


def _apply(target: PatchTarget, telemetry: Telemetry, companion: Telemetry) -> Patch:
    owner, name = _owner(target)
    current = vars(owner)[name]
    patch = Patch(owner, name, current)
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


def sdk_version(adapter: ProviderAdapter) -> str:
    """The installed version of the adapter's SDK distribution, from its metadata (no import)."""
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

    conflict = get_dependency_conflicts([adapter.requirement])
    if conflict is not None:
        _logger.warning("otel-llmperf: %s; instrumenting anyway, some methods may be skipped", conflict)
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    try:
        return version(Requirement(adapter.requirement).name)
    except PackageNotFoundError:
        return "?"


class ProviderPatches:
    """The patches of one provider SDK: applied module by module as the SDK is imported."""

    def __init__(
        self,
        adapter: ProviderAdapter,
        settings: Settings,
        tracer_provider: Any,
        meter_provider: Any,
        check_version: bool,
    ) -> None:
        self.adapter = adapter
        self.version = sdk_version(adapter) if check_version else "?"
        telemetry = Telemetry(
            trace.get_tracer(SCOPE, __version__, tracer_provider, schema_url=SCHEMA_URL),
            Instruments(metrics.get_meter(SCOPE, __version__, meter_provider, schema_url=SCHEMA_URL)),
            settings,
            adapter,
        )
        self.telemetry = _layered(telemetry)
        self.companion = _companion_of(self.telemetry)
        self.patches: list[Patch] = []
        self.guards: list[Patch] = []

    def apply(self, module: str) -> None:
        """Wrap every target the adapter lists in ``module``, which has just been imported."""
        skipped, taken = [], []
        applied: list[Patch] = []
        for target in self.adapter.patch_targets():
            if target.module != module:
                continue
            try:
                applied.append(_apply(target, self.telemetry, self.companion))
            except (ImportError, AttributeError) as error:
                skipped.append(f"{target.module}.{target.attribute} ({error})")
            except _TakenByAnotherLayer as error:
                taken.append(str(error))
        self.patches.extend(applied)
        if skipped:
            _logger.debug("%s: not in this SDK version, not instrumented: %s", self.adapter.name, "; ".join(skipped))
        beneath = [f"{patch.owner.__qualname__}.{patch.name} ({patch.under})" for patch in applied if patch.under]
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

    def guard_sdk_spans(self, self_tracing: SelfTracing, module: Any) -> None:
        """Keep an SDK that traces itself from starting a second span for calls we record."""
        original = vars(module).get(self_tracing.function)
        if original is None:
            return  # an SDK version that does not trace itself
        wrap_function_wrapper(module, self_tracing.function, stand_sdk_span_aside)
        self.guards.append(Patch(module, self_tracing.function, original, vars(module)[self_tracing.function]))

    def remove(self) -> None:
        """Put back every original; a layer above ours that is no wrapt proxy keeps ours, disabled."""
        # Whatever stays reachable (a binding of ours that another instrumentation saved and puts
        # back later) passes calls straight through from now on.
        self.telemetry.enabled = self.companion.enabled = False
        for patch in reversed([*self.patches, *self.guards]):
            patch.retired = True
            if not remove_layer(patch.owner, patch.name, patch.wrapper, patch.original):
                _logger.warning(
                    "%s.%s is wrapped above otel-llmperf by something that is no wrapt proxy; leaving our "
                    "layer in place, disabled",
                    getattr(patch.owner, "__qualname__", patch.owner),
                    patch.name,
                )
        self.patches.clear()
        self.guards.clear()
