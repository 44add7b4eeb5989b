# SPDX-License-Identifier: Apache-2.0
"""Proxies that hand the caller exactly what the SDK returned while feeding an Invocation.

Built on ``wrapt.BaseObjectProxy``: every attribute the proxies do not override (``.response``,
``.headers``, ``.http_response``, ``get_final_completion()``, ...) reaches the SDK object
untouched, and ``isinstance`` checks against the SDK's classes still pass. Proxy state lives in
``_self_*`` attributes, which wrapt keeps on the proxy instead of writing them through.

How each kind of result ends its call:

* a stream ends on exhaustion, on an SDK error while iterating, on ``close()`` or context-manager
  exit before the end (``error.type=cancelled``, or the class of the exception that left the
  ``with`` block), or when it is garbage-collected unfinished (``error.type=abandoned``);
* a raw response whose body is already read is finished at once;
* a raw response still streaming its body ends at ``parse()`` (or at the end of the stream
  ``parse()`` returns), or at ``close()``;
* a stream *manager* (``chat.completions.stream(...)``) closes the streams it opened when its
  ``with`` block exits.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextvars import ContextVar
from time import perf_counter
from types import TracebackType
from typing import Any

from wrapt import BaseObjectProxy

from otel_llmperf import _errors
from otel_llmperf.invocation import ABANDONED, CANCELLED, Invocation
from otel_llmperf.providers.base import ResultKind

# While a stream manager is entering, the streams opened by the SDK call inside it register
# here, so the manager's exit can end them: the SDK's own close() bypasses our stream proxy.
_OPENED_STREAMS: ContextVar[list[_StreamProxy] | None] = ContextVar("otel_llmperf_opened_streams", default=None)

_EARLY_CLOSE = "stream closed before its last chunk"
_GARBAGE = "stream garbage-collected before it was consumed or closed"


class _StreamProxy(BaseObjectProxy[Any]):
    """State and endings shared by the sync and async stream proxies."""

    def __init__(self, wrapped: Any, invocation: Invocation) -> None:
        super().__init__(wrapped)
        self._self_invocation = invocation
        invocation.start_stream()
        opened = _OPENED_STREAMS.get()
        if opened is not None:
            opened.append(self)

    def _self_end_on_exit(self, error: BaseException | None) -> None:
        invocation = self._self_invocation
        if error is None:
            invocation.end_stream(CANCELLED, _EARLY_CLOSE)
        else:
            invocation.fail(error)

    def __del__(self) -> None:
        # An unfinished stream nobody can reach any more: end its call so it is not lost.
        invocation = getattr(self, "_self_invocation", None)
        if invocation is not None and not invocation.done:
            try:
                invocation.end_stream(ABANDONED, _GARBAGE)
            except Exception as error:  # pragma: no cover - interpreter shutdown
                _errors.report("finalising an abandoned stream", error)


class SyncStreamProxy(_StreamProxy):
    """A sync SDK stream, measured chunk by chunk."""

    def __init__(self, wrapped: Any, invocation: Invocation) -> None:
        super().__init__(wrapped, invocation)
        # wrapt does not proxy iteration; bind the wrapped iterator's __next__ once.
        self._self_next = wrapped.__next__ if hasattr(wrapped, "__next__") else iter(wrapped).__next__

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        invocation = self._self_invocation
        while True:  # ends with the stream: each turn consumes one chunk
            try:
                chunk = self._self_next()
            except StopIteration:
                invocation.end_stream()
                raise
            except BaseException as error:
                invocation.fail(error)
                raise
            if not invocation.observe(chunk):
                return chunk

    @property
    def close(self) -> Callable[[], Any]:
        """Close the SDK stream; the call ends as cancelled unless it already ended."""
        # A property: a stream without close() (Bedrock's) has none through the proxy either,
        # so hasattr() and getattr(stream, "close", None) answer as they do uninstrumented.
        close = self.__wrapped__.close
        invocation = self._self_invocation

        def closing() -> Any:
            try:
                return close()
            finally:
                invocation.end_stream(CANCELLED, _EARLY_CLOSE)

        return closing

    def __enter__(self) -> SyncStreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, error, traceback)
        finally:
            self._self_end_on_exit(error)


class AsyncStreamProxy(_StreamProxy):
    """An async SDK stream, measured chunk by chunk."""

    def __init__(self, wrapped: Any, invocation: Invocation) -> None:
        super().__init__(wrapped, invocation)
        self._self_anext = wrapped.__anext__ if hasattr(wrapped, "__anext__") else wrapped.__aiter__().__anext__

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        invocation = self._self_invocation
        while True:  # ends with the stream: each turn consumes one chunk
            try:
                chunk = await self._self_anext()
            except StopAsyncIteration:
                invocation.end_stream()
                raise
            except BaseException as error:
                invocation.fail(error)
                raise
            if not invocation.observe(chunk):
                return chunk

    @property
    def close(self) -> Callable[[], Awaitable[Any]]:
        """Close the SDK stream (the SDKs' name, where they have it); ends the call as cancelled."""
        return self._self_closer(self.__wrapped__.close)

    @property
    def aclose(self) -> Callable[[], Awaitable[Any]]:
        """Close an async-generator stream (google-genai's); ends the call as cancelled."""
        return self._self_closer(self.__wrapped__.aclose)

    def _self_closer(self, close: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        # Looked up on the SDK stream first: a method it lacks (anthropic's streams have no
        # aclose, async generators no close) is missing through the proxy too, as hasattr() expects.
        invocation = self._self_invocation

        async def closing() -> Any:
            try:
                return await close()
            finally:
                invocation.end_stream(CANCELLED, _EARLY_CLOSE)

        return closing

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, error, traceback)
        finally:
            self._self_end_on_exit(error)


class RawResponseProxy(BaseObjectProxy[Any]):
    """A raw SDK response (``with_raw_response`` / ``with_streaming_response``)."""

    def __init__(self, wrapped: Any, invocation: Invocation) -> None:
        super().__init__(wrapped)
        self._self_invocation = invocation
        self._self_parsed: tuple[Any, Any] | None = None  # (SDK result, what we handed out)

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        """Parse as the SDK does; a parsed stream comes back measured, a parsed response ends the call."""
        try:
            result = self.__wrapped__.parse(*args, **kwargs)
        except BaseException as error:
            self._self_invocation.fail(error)
            raise
        if inspect.isawaitable(result):
            return self._self_parse_later(result)
        return self._self_adopt(result)

    async def _self_parse_later(self, pending: Awaitable[Any]) -> Any:
        try:
            result = await pending
        except BaseException as error:
            self._self_invocation.fail(error)
            raise
        return self._self_adopt(result)

    def _self_adopt(self, result: Any) -> Any:
        # parse() may be called again; the SDK caches, so must we, or one stream gets two proxies.
        if self._self_parsed is not None and self._self_parsed[0] is result:
            return self._self_parsed[1]
        handed = route_result(self._self_invocation, result, raw_allowed=False)
        self._self_parsed = (result, handed)
        return handed

    def close(self) -> Any:
        """Close the response; a call not yet finished by ``parse()`` ends here."""
        result = self.__wrapped__.close()
        if inspect.isawaitable(result):
            return self._self_close_later(result)
        self._self_closed()
        return result

    async def _self_close_later(self, pending: Awaitable[Any]) -> Any:
        try:
            return await pending
        finally:
            self._self_closed()

    def _self_closed(self) -> None:
        invocation = self._self_invocation
        if not invocation.done and not (self._self_parsed and isinstance(self._self_parsed[1], _StreamProxy)):
            invocation.finish(None)


class _StreamManagerProxy(BaseObjectProxy[Any]):
    """An SDK stream manager; its exit also ends the streams opened on entry."""

    def __init__(self, wrapped: Any) -> None:
        super().__init__(wrapped)
        self._self_streams: list[_StreamProxy] = []

    def _self_close_streams(self, error: BaseException | None) -> None:
        for stream in self._self_streams:
            stream._self_end_on_exit(error)
        self._self_streams.clear()


class StreamManagerProxy(_StreamManagerProxy):
    """``with client.chat.completions.stream(...) as stream:``"""

    def __enter__(self) -> Any:
        token = _OPENED_STREAMS.set(self._self_streams)
        try:
            return self.__wrapped__.__enter__()
        finally:
            _OPENED_STREAMS.reset(token)

    def __exit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> Any:
        if error is not None:
            # First: a helper whose exit closes its stream through our proxy (anthropic's
            # MessageStream) would otherwise end the call as cancelled, losing the caller's error.
            self._self_close_streams(error)
        try:
            return self.__wrapped__.__exit__(exc_type, error, traceback)
        finally:
            self._self_close_streams(error)


class AsyncStreamManagerProxy(_StreamManagerProxy):
    """``async with client.chat.completions.stream(...) as stream:``"""

    async def __aenter__(self) -> Any:
        token = _OPENED_STREAMS.set(self._self_streams)
        try:
            return await self.__wrapped__.__aenter__()
        finally:
            _OPENED_STREAMS.reset(token)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> Any:
        if error is not None:
            self._self_close_streams(error)  # first, as in StreamManagerProxy.__exit__
        try:
            return await self.__wrapped__.__aexit__(exc_type, error, traceback)
        finally:
            self._self_close_streams(error)


def route_result(invocation: Invocation, result: Any, raw_allowed: bool = True) -> Any:
    """Finish the call or wrap the result so its end is observed; return what the caller gets."""
    try:
        kind = invocation.result_kind(result)
        if kind is ResultKind.PARSED:
            invocation.finish_with(result)
            return result
        if kind is ResultKind.STREAM:
            return SyncStreamProxy(result, invocation)
        if kind is ResultKind.ASYNC_STREAM:
            return AsyncStreamProxy(result, invocation)
        if kind is ResultKind.NESTED_STREAM:
            return _wrap_nested(invocation, result)
        if not raw_allowed:
            invocation.finish(None)
            return result
        if kind is ResultKind.RAW_READ and not invocation.stream:
            _finish_read_response(invocation, result)
        # Even a finished call gets the proxy: feedback_token(raw_response) finds its call through it.
        return RawResponseProxy(result, invocation)
    except Exception as error:
        _errors.report("reading a response", error)
        invocation.finish(None)
        return result


def _wrap_nested(invocation: Invocation, result: Any) -> Any:
    # The caller reads the stream out of the response (response["stream"]): proxy it in place.
    slot = invocation.nested_stream(result)
    if slot is None:
        invocation.finish_with(result)
        return result
    container, key = slot
    stream = container[key]
    container[key] = (
        AsyncStreamProxy(stream, invocation) if hasattr(stream, "__anext__") else SyncStreamProxy(stream, invocation)
    )
    return result


def _finish_read_response(invocation: Invocation, result: Any) -> None:
    # The body is in memory already: parse it now (the SDK caches the parsed value for the
    # caller) so the call ends with its real duration and usage.
    end = perf_counter()
    try:
        parsed = result.parse()
        if inspect.iscoroutine(parsed):
            # An async SDK's parse() is a coroutine even with the body in memory (anthropic's
            # AsyncAPIResponse); with nothing to wait for, it completes on its first step.
            parsed = _completed(parsed)
    except Exception:
        # The caller meets the same error when they parse; the HTTP exchange itself is over.
        invocation.finish(None, end)
        return
    invocation.finish(invocation.response_info(parsed), end)


def _completed(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """The value of a coroutine that finishes without waiting; closed, and an error, if it would wait."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("parse() waited for a response body that should have been read")
