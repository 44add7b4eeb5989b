# SPDX-License-Identifier: Apache-2.0
"""The demo's SDK clients: one per installed provider SDK, every one pointed at the fake server.

Only ``openai`` is required; a provider whose SDK is missing is left out of the traffic mix.
Retries are off everywhere, so injected faults show as errors instead of hiding behind retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

_logger = logging.getLogger(__name__)

# Placeholder credentials: the fake server checks none, and nothing leaves the machine.
_KEY = "demo"

bedrock_headers: ContextVar[dict[str, str] | None] = ContextVar("bedrock_headers", default=None)
"""Extra HTTP headers for the next Bedrock call in this context (boto3 takes none per call)."""


def _add_bedrock_headers(request: Any, **_: Any) -> None:
    headers = bedrock_headers.get()
    for name, value in (headers or {}).items():
        request.headers[name] = value


@dataclass
class Clients:
    """Sync and async clients of each installed SDK; ``None`` where the SDK is not installed."""

    openai: Any
    openai_sync: Any
    anthropic: Any = None
    gemini: Any = None
    bedrock: Any = None
    mistral: Any = None
    cohere: Any = None
    missing: list[str] = field(default_factory=list)

    def available(self, provider: str) -> bool:
        """Whether the SDK of ``provider`` (an attribute name of this class) is installed."""
        return getattr(self, provider) is not None

    async def close(self) -> None:
        """Close every client that holds connections."""
        await self.openai.close()
        self.openai_sync.close()
        if self.anthropic is not None:
            await self.anthropic.close()
        if self.bedrock is not None:
            self.bedrock.close()


def _openai(root: str) -> tuple[Any, Any]:
    import openai

    base_url = f"{root}/v1"
    return (
        openai.AsyncOpenAI(base_url=base_url, api_key=_KEY, max_retries=0),
        openai.OpenAI(base_url=base_url, api_key=_KEY, max_retries=0),
    )


def _anthropic(root: str) -> Any:
    import anthropic

    return anthropic.AsyncAnthropic(base_url=f"{root}/anthropic", api_key=_KEY, max_retries=0)


def _gemini(root: str) -> Any:
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=f"{root}/gemini/", retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=_KEY, http_options=options)


def _bedrock(root: str) -> Any:
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=f"{root}/bedrock",
        aws_access_key_id=_KEY,
        aws_secret_access_key=_KEY,
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=32),
    )
    client.meta.events.register("before-sign.bedrock-runtime", _add_bedrock_headers)
    return client


def _mistral(root: str) -> Any:
    try:
        from mistralai.client import Mistral  # mistralai >= 2
    except ImportError:
        from mistralai import Mistral  # type: ignore[attr-defined,no-redef]

    return Mistral(api_key=_KEY, server_url=f"{root}/mistral")


def _cohere(root: str) -> Any:
    import cohere

    return cohere.AsyncClientV2(api_key=_KEY, base_url=f"{root}/cohere", max_retries=0)


_OPTIONAL: dict[str, Callable[[str], Any]] = {
    "anthropic": _anthropic,
    "gemini": _gemini,
    "bedrock": _bedrock,
    "mistral": _mistral,
    "cohere": _cohere,
}


def connect(root: str) -> Clients:
    """Clients for every installed SDK, talking to the fake server at ``root`` (``http://127.0.0.1:PORT``)."""
    async_openai, sync_openai = _openai(root)
    clients = Clients(async_openai, sync_openai)
    for name, build in _OPTIONAL.items():
        try:
            setattr(clients, name, build(root))
        except ImportError:
            clients.missing.append(name)
        except Exception as error:  # a broken SDK install must not stop the demo
            _logger.warning("demo: %s client not available (%s); its traffic is left out", name, error)
            clients.missing.append(name)
    if clients.missing:
        _logger.info("demo: SDKs not installed, left out of the traffic mix: %s", ", ".join(clients.missing))
    return clients
