# SPDX-License-Identifier: Apache-2.0
"""The thin sync and async shells wrapt installs around SDK methods.

A shell only starts an :class:`~otel_llmperf.invocation.Invocation`, calls (or awaits) the
SDK with the span current, and hands the result to :func:`~otel_llmperf.streams.route_result`.
Everything else is shared. The SDK's exceptions propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context

from otel_llmperf import _errors
from otel_llmperf.invocation import Invocation, Telemetry
from otel_llmperf.providers.base import PatchTarget
from otel_llmperf.streams import AsyncStreamManagerProxy, StreamManagerProxy, route_result

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


def make_wrapper(telemetry: Telemetry, target: PatchTarget) -> Wrapper:
    """The wrapt wrapper for one patch target, with its configuration bound now."""
    if target.helper:
        return _manager_shell(telemetry, target)
    if target.is_async:
        return _async_shell(telemetry, target)
    return _sync_shell(telemetry, target)


Starter = Callable[[Any, tuple[Any, ...], dict[str, Any]], tuple[Invocation | None, dict[str, Any]]]


def _starter(telemetry: Telemetry, target: PatchTarget) -> Starter:
    """Begins the call's invocation; also says which kwargs the SDK method is then called with."""
    api, select = target.api, target.select
    if select is None:

        def start(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Invocation | None, Any]:
            call = telemetry.begin(api, instance, kwargs)
            # stream_usage may have changed the request: the SDK gets the invocation's kwargs.
            return call, call.kwargs if call is not None else kwargs

        return start

    def start_selected(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Invocation | None, Any]:
        # One patched method serving several APIs: the adapter names the API and its request.
        try:
            chosen = select(instance, args, kwargs)
        except Exception as error:
            _errors.report("selecting the API of a call", error)
            chosen = None
        if chosen is None:
            return None, kwargs
        chosen_api, request = chosen
        return telemetry.begin(chosen_api, instance, request), kwargs

    return start_selected


def _sync_shell(telemetry: Telemetry, target: PatchTarget) -> Wrapper:
    start = _starter(telemetry, target)

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call, call_kwargs = start(instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        token = otel_context.attach(call.context)
        try:
            result = wrapped(*args, **call_kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            otel_context.detach(token)
        return route_result(call, result)

    return traced


def _async_shell(telemetry: Telemetry, target: PatchTarget) -> Wrapper:
    start = _starter(telemetry, target)

    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call, call_kwargs = start(instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = otel_context.attach(call.context)
        try:
            result = await wrapped(*args, **call_kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            otel_context.detach(token)
        return route_result(call, result)

    return traced


def _manager_shell(telemetry: Telemetry, target: PatchTarget) -> Wrapper:
    # Stream helpers make their SDK call when entered. When that call goes through a patched
    # method (OpenAI's chat.completions.stream calls create), it is the one recorded and the
    # manager proxy only makes sure leaving the ``with`` block ends the stream. When the helper
    # makes the request itself (Anthropic's messages.stream), ``adopt`` hands us that request,
    # and the same shells as for a plain call record it.
    proxy = AsyncStreamManagerProxy if target.is_async else StreamManagerProxy
    adopt = target.adopt
    call_shell = (_async_shell if target.is_async else _sync_shell)(telemetry, target)

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        if adopt is not None:
            request_kwargs = {**kwargs, "stream": True}

            def wrap(request: Any) -> Any:
                if target.is_async:  # the helper's request is a coroutine it will await
                    return call_shell(lambda *_a, **_k: request, instance, (), request_kwargs)
                return lambda: call_shell(lambda *_a, **_k: request(), instance, (), request_kwargs)

            try:
                adopt(manager, wrap)
            except Exception as error:
                _errors.report("adopting a stream helper's request", error)
        return proxy(manager)

    return traced
