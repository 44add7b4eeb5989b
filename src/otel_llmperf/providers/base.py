# SPDX-License-Identifier: Apache-2.0
"""The contract between the shared core and a provider adapter.

A provider adapter is data plus pure functions: a patch table naming the SDK methods to
wrap, and extractors that turn SDK requests, responses and stream chunks into the small
records below. Adapters never touch spans or meters; :mod:`otel_llmperf.invocation` does.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry.util.types import AttributeValue

Attributes = dict[str, AttributeValue]
Messages = list[dict[str, Any]]


class ResultKind(enum.Enum):
    """What an SDK method handed back, which decides how the call is finished."""

    PARSED = "parsed"  # a response object: the call is complete
    STREAM = "stream"  # a sync iterator of chunks
    ASYNC_STREAM = "async_stream"  # an async iterator of chunks
    RAW_READ = "raw_read"  # a raw response whose body is already read (parse() is cheap and sync)
    RAW_UNREAD = "raw_unread"  # a raw response still streaming its body (parse()/close() end the call)
    NESTED_STREAM = "nested_stream"  # a response holding a stream in a slot (boto3: {"stream": EventStream})


class ChunkKind(enum.IntEnum):
    """How a stream chunk counts for timing."""

    OTHER = 0  # bookkeeping (role-only headers are OUTPUT; lifecycle events are OTHER)
    OUTPUT = 1  # carries output: counts for time to first chunk and time per output chunk
    USAGE_ONLY = 2  # the extra usage chunk that stream_usage asked for; hidden when injected


@dataclass(slots=True)
class Usage:
    """Token counts as the provider reported them; ``None`` means not reported."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None
    # Of the cache writes, those kept for an hour (Anthropic, Bedrock), which cost more than the
    # default five minutes; priced, not exported (semconv has no attribute for it).
    cache_creation_1h_input_tokens: int | None = None


@dataclass(slots=True)
class ResponseInfo:
    """What the core needs from a finished response or stream."""

    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: tuple[str, ...] = ()
    usage: Usage | None = None
    attributes: Attributes = field(default_factory=dict)
    output_messages: Messages | None = None
    error_type: str | None = None  # set when the provider reports a failure inside a 200 response
    # The provider's id of the request, not of the completion (Bedrock's AWS request id): one
    # more key feedback can find the call by. Its span attribute goes in ``attributes``.
    request_id: str | None = None


@dataclass(slots=True)
class RequestInfo:
    """Cheap facts about a call, needed for every span and metric."""

    operation: str
    provider: str
    request_model: str | None
    server_address: str | None
    server_port: int | None
    stream: bool


class ChunkFolder(Protocol):
    """Folds the chunks of one stream into a :class:`ResponseInfo` without storing them."""

    def fold(self, chunk: Any) -> ChunkKind:
        """Take one chunk into account and say how it counts."""
        ...

    def result(self) -> ResponseInfo:
        """What the stream has said so far."""
        ...


@dataclass(frozen=True)
class Api:
    """One API surface of a provider (chat, embeddings, ...) and its pure extractors."""

    operation: str
    request_attributes: Callable[[Mapping[str, Any]], Attributes]
    input_messages: Callable[[Mapping[str, Any]], Messages | None]
    response_info: Callable[[Any, bool], ResponseInfo]
    new_folder: Callable[[bool], ChunkFolder] | None = None
    stream_usage_option: bool = False  # accepts stream_options.include_usage
    user_id: Callable[[Mapping[str, Any]], str | None] | None = None  # exported only hashed, if at all
    # Instructions the API takes apart from the messages (Gemini's system_instruction), as semconv
    # parts for gen_ai.system_instructions; captured with the input messages.
    system_instructions: Callable[[Mapping[str, Any]], list[dict[str, Any]] | None] | None = None
    # The error.type of an exception the SDK raised, when its class says too little (botocore's
    # ClientError carries the AWS error code); None falls back to the exception's class name.
    error_type: Callable[[BaseException], str | None] | None = None


@dataclass(frozen=True)
class PatchTarget:
    """One SDK method to wrap: ``module`` and ``Class.method`` as wrapt takes them."""

    module: str
    attribute: str
    api: Api
    is_async: bool = False
    helper: bool = False  # returns a stream manager (context manager) rather than a response
    # For methods that serve several APIs (botocore's _make_api_call): (api, request kwargs) of one
    # call from its (instance, args, kwargs), or None to leave that call alone.
    select: Callable[[Any, tuple[Any, ...], Mapping[str, Any]], tuple[Api, dict[str, Any]] | None] | None = None
    # For stream helpers that make their request themselves (not through a patched method):
    # hands the helper's request callable (or, async, its coroutine) to ``wrap`` and puts back
    # what ``wrap`` returns, so the request is recorded as a streaming call of ``api``.
    adopt: Callable[[Any, Callable[[Any], Any]], None] | None = None


class ProviderAdapter(Protocol):
    """Everything the core needs to know about one provider SDK."""

    name: str  # entry-point name, e.g. ``llmperf_openai``
    package: str  # the SDK's import name, e.g. ``openai``
    requirement: str  # pip requirement of the SDK versions supported

    def patch_targets(self) -> Sequence[PatchTarget]:
        """The methods to wrap; importing the SDK is allowed here, not at module import."""
        ...

    def request_info(self, api: Api, instance: Any, kwargs: Mapping[str, Any]) -> RequestInfo:
        """Operation, provider, model, server and streaming flag of one call."""
        ...

    def result_kind(self, result: Any) -> ResultKind:
        """Classify what the SDK method returned."""
        ...

    def with_stream_usage(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """Return kwargs that ask for a usage chunk, or ``None`` when the caller chose already."""
        ...

    def nested_stream(self, result: Any) -> tuple[MutableMapping[str, Any], str] | None:
        """Where a NESTED_STREAM result keeps its stream: (container, key)."""
        ...


class Adapter:
    """The shared shape of a :class:`ProviderAdapter`: an adapter sets its data and :meth:`server`.

    ``request_info`` reads the model from the ``model_argument`` keyword and the stream flag from
    ``stream=True``, or, for an SDK whose streaming method is a method of its own, from whether the
    call's Api is ``stream_api``. Results are parsed responses or plain (async) iterators, never
    nested, and streams report usage unasked; adapters of SDKs that differ override those methods.
    """

    name: str
    package: str
    requirement: str
    targets: tuple[PatchTarget, ...] = ()
    model_argument = "model"
    stream_api: Api | None = None

    def patch_targets(self) -> Sequence[PatchTarget]:
        """The methods to wrap, sync and async."""
        return self.targets

    def server(self, instance: Any, kwargs: Mapping[str, Any]) -> tuple[str | None, int | None, str]:
        """(server.address, server.port, gen_ai.provider.name) of a call on ``instance``."""
        raise NotImplementedError

    def request_model(self, kwargs: Mapping[str, Any]) -> str | None:
        """The model the call asks for."""
        model = kwargs.get(self.model_argument)
        return model if isinstance(model, str) else None

    def request_info(self, api: Api, instance: Any, kwargs: Mapping[str, Any]) -> RequestInfo:
        """Operation, provider, model, server and streaming flag of one call."""
        address, port, provider = self.server(instance, kwargs)
        stream = api is self.stream_api if self.stream_api is not None else kwargs.get("stream") is True
        return RequestInfo(api.operation, provider, self.request_model(kwargs), address, port, stream)

    def result_kind(self, result: Any) -> ResultKind:
        """A sync or async iterator is a stream; anything else a parsed response."""
        if hasattr(result, "__next__"):
            return ResultKind.STREAM
        if hasattr(result, "__anext__"):
            return ResultKind.ASYNC_STREAM
        return ResultKind.PARSED

    def with_stream_usage(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """Nothing to ask for: the stream reports its usage unasked."""
        return None

    def nested_stream(self, result: Any) -> tuple[MutableMapping[str, Any], str] | None:
        """The stream is returned directly, never nested."""
        return None
