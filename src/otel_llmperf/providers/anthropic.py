# SPDX-License-Identifier: Apache-2.0
"""Placeholder: the anthropic adapter is being written; it instruments nothing yet."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from otel_llmperf.providers.base import Api, PatchTarget, RequestInfo, ResultKind


class _Placeholder:
    name = "llmperf_anthropic"
    package = "anthropic"
    requirement = "anthropic >= 0.40"

    def patch_targets(self) -> Sequence[PatchTarget]:
        return ()

    def request_info(self, api: Api, instance: Any, kwargs: Mapping[str, Any]) -> RequestInfo:
        raise NotImplementedError

    def result_kind(self, result: Any) -> ResultKind:
        return ResultKind.PARSED

    def with_stream_usage(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        return None

    def nested_stream(self, result: Any) -> tuple[MutableMapping[str, Any], str] | None:
        return None


ADAPTER = _Placeholder()
