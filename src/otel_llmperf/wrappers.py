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

from otel_llmperf.invocation import Telemetry
from otel_llmperf.providers.base import PatchTarget
from otel_llmperf.streams import AsyncStreamManagerProxy, StreamManagerProxy, route_result

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


def make_wrapper(telemetry: Telemetry, target: PatchTarget) -> Wrapper:
    """The wrapt wrapper for one patch target, with its configuration bound now."""
    if target.helper:
        return _manager_shell(AsyncStreamManagerProxy if target.is_async else StreamManagerProxy)
    if target.is_async:
        return _async_shell(telemetry, target)
    return _sync_shell(telemetry, target)


def _sync_shell(telemetry: Telemetry, target: PatchTarget) -> Wrapper:
    api = target.api

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = telemetry.begin(api, instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        token = otel_context.attach(call.context)
        try:
            result = wrapped(*args, **call.kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            otel_context.detach(token)
        return route_result(call, result)

    return traced


def _async_shell(telemetry: Telemetry, target: PatchTarget) -> Wrapper:
    api = target.api

    async def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = telemetry.begin(api, instance, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = otel_context.attach(call.context)
        try:
            result = await wrapped(*args, **call.kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            otel_context.detach(token)
        return route_result(call, result)

    return traced


def _manager_shell(proxy: type[StreamManagerProxy] | type[AsyncStreamManagerProxy]) -> Wrapper:
    # Stream helpers make their SDK call when entered; that call is the one recorded. The
    # manager proxy only makes sure leaving the ``with`` block ends the stream it opened.
    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return proxy(wrapped(*args, **kwargs))

    return traced
