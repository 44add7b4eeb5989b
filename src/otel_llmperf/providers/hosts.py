# SPDX-License-Identifier: Apache-2.0
"""``server.address``, ``server.port`` and ``gen_ai.provider.name`` from a client's base URL.

OpenAI-compatible endpoints are reached with the OpenAI SDK and a ``base_url``; the host
says which provider is really answering. Users add their own hosts with
``OTEL_PYTHON_LLMPERF_PROVIDER_HOSTS`` (see :func:`set_extra_hosts`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import GenAiProviderNameValues as P

# Matched as a host suffix, first match wins. Values outside the semconv enum follow its
# naming style (lowercase, dot- or underscore-separated).
KNOWN_HOSTS: tuple[tuple[str, str], ...] = (
    ("openai.azure.com", P.AZURE_AI_OPENAI.value),
    ("cognitiveservices.azure.com", P.AZURE_AI_OPENAI.value),
    ("services.ai.azure.com", P.AZURE_AI_INFERENCE.value),
    ("models.ai.azure.com", P.AZURE_AI_INFERENCE.value),
    ("inference.ai.azure.com", P.AZURE_AI_INFERENCE.value),
    ("api.openai.com", P.OPENAI.value),
    ("api.groq.com", P.GROQ.value),
    ("api.deepseek.com", P.DEEPSEEK.value),
    ("api.mistral.ai", P.MISTRAL_AI.value),
    ("api.x.ai", P.X_AI.value),
    ("api.perplexity.ai", P.PERPLEXITY.value),
    ("generativelanguage.googleapis.com", P.GCP_GEMINI.value),
    ("aiplatform.googleapis.com", P.GCP_VERTEX_AI.value),
    ("api.cohere.ai", P.COHERE.value),
    ("api.cohere.com", P.COHERE.value),
    ("api.anthropic.com", P.ANTHROPIC.value),
    ("ml.cloud.ibm.com", P.IBM_WATSONX_AI.value),
    ("api.moonshot.ai", "moonshot_ai"),
    ("api.moonshot.cn", "moonshot_ai"),
    ("openrouter.ai", "openrouter"),
    ("api.together.xyz", "together_ai"),
    ("api.together.ai", "together_ai"),
    ("api.fireworks.ai", "fireworks_ai"),
    ("api.cerebras.ai", "cerebras"),
)
_AZURE_CLIENTS = frozenset({"AzureOpenAI", "AsyncAzureOpenAI"})
DEFAULT_PORTS = {"https": 443, "http": 80}
_CACHE_LIMIT = 256

_extra: tuple[tuple[str, str], ...] = ()
_cache: dict[tuple[str, str, str], str] = {}
_lock = threading.Lock()


def set_extra_hosts(hosts: Mapping[str, str]) -> None:
    """Install user ``host-suffix → provider`` pairs, checked before the built-in table."""
    global _extra
    with _lock:
        _extra = tuple((suffix.lower().lstrip("."), provider) for suffix, provider in hosts.items())
        _cache.clear()
        _by_url.clear()


def provider_for_host(host: str, client_class: str = "", default: str = P.OPENAI.value) -> str:
    """The provider name a host (and client class) stands for."""
    # The default is part of the key: SDKs other than openai's name their own provider by default.
    key = (host, client_class, default)
    found = _cache.get(key)
    if found is not None:
        return found
    found = default
    for suffix, provider in (*_extra, *KNOWN_HOSTS):
        if host == suffix or host.endswith("." + suffix):
            found = provider
            break
    else:
        if client_class in _AZURE_CLIENTS:
            found = P.AZURE_AI_OPENAI.value
    with _lock:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[key] = found
    return found


def _describe(base_url: Any, client_class: str) -> tuple[str | None, int | None, str]:
    host = getattr(base_url, "host", None)
    if not isinstance(host, str) or not host:
        return None, None, P.AZURE_AI_OPENAI.value if client_class in _AZURE_CLIENTS else P.OPENAI.value
    host = host.lower()
    port = getattr(base_url, "port", None)
    if not isinstance(port, int):
        port = DEFAULT_PORTS.get(str(getattr(base_url, "scheme", "https")))
    return host, port, provider_for_host(host, client_class)


# A client keeps one base URL object for its life: remember what it said by identity, so the
# per-call cost is one dict lookup instead of parsing the URL's host. The URL object is kept in
# the entry, so its id cannot be reused while the entry exists.
_by_url: dict[tuple[int, str], tuple[Any, tuple[str | None, int | None, str]]] = {}


def describe(base_url: Any, client_class: str = "") -> tuple[str | None, int | None, str]:
    """(host, port, provider) of an SDK client's base URL; host and port ``None`` when unknown."""
    key = (id(base_url), client_class)
    entry = _by_url.get(key)
    if entry is not None and entry[0] is base_url:
        return entry[1]
    found = _describe(base_url, client_class)
    with _lock:
        if len(_by_url) >= _CACHE_LIMIT:
            _by_url.clear()
        _by_url[key] = (base_url, found)
    return found


@functools.lru_cache(maxsize=64)
def server_of(url: str) -> tuple[str | None, int | None]:
    """``server.address`` and ``server.port`` of a server URL string (the default port of its scheme)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port  # hostname is lowercased already
    except ValueError:
        return None, None
    if not host:
        return None, None
    return host, port if port is not None else DEFAULT_PORTS.get(parts.scheme)
