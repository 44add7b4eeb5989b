# SPDX-License-Identifier: Apache-2.0
"""Every provider otel-llmperf instruments, as plain data: nothing here imports an adapter or an SDK.

``instrument()`` reads this table to decide what to watch for; a provider's adapter module is
imported only once the application imports that provider's SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otel_llmperf.layering import SelfTracing
    from otel_llmperf.providers.base import ProviderAdapter


class Provider:
    """One provider: its entry-point name, SDK, and where its adapter lives."""

    __slots__ = ("adapter_module", "name", "package", "requirement", "roots", "self_tracing")

    def __init__(
        self,
        name: str,
        package: str,
        requirement: str,
        adapter_module: str,
        roots: tuple[str, ...] | None = None,
        self_tracing: bool = False,
    ) -> None:
        self.name = name  # the entry-point name, also what OTEL_PYTHON_DISABLED_INSTRUMENTATIONS names
        self.package = package  # the import name whose presence means "installed"
        self.requirement = requirement
        self.adapter_module = adapter_module
        # The modules whose import means the SDK is in use (regular packages, never namespace
        # ones: nothing executes those, so their hooks never fire): patching starts there.
        self.roots = roots or (package,)
        self.self_tracing = self_tracing

    def load(self) -> tuple[ProviderAdapter, SelfTracing | None]:
        """The adapter, and the SDK's own tracing if it has some (imports the adapter module)."""
        module = importlib.import_module(f"otel_llmperf.providers.{self.adapter_module}")
        return module.ADAPTER, getattr(module, "SELF_TRACING", None) if self.self_tracing else None

    def __repr__(self) -> str:
        return f"Provider({self.name!r})"


OPENAI = Provider("llmperf_openai", "openai", "openai >= 1.40", "openai")
ANTHROPIC = Provider("llmperf_anthropic", "anthropic", "anthropic >= 0.40", "anthropic", self_tracing=True)
GOOGLE_GENAI = Provider("llmperf_google_genai", "google.genai", "google-genai >= 1.0", "google_genai")
BEDROCK = Provider("llmperf_bedrock", "botocore", "botocore >= 1.34", "bedrock")
# A hook on a namespace package never fires (nothing executes it): mistralai >= 2 is one, with
# its clients in mistralai.client, .azure.client and .gcp.client; 1.x had a regular mistralai
# and its Azure and Vertex AI clients in packages of their own.
MISTRAL = Provider(
    "llmperf_mistral",
    "mistralai",
    "mistralai >= 1.0",
    "mistral",
    (
        *("mistralai.client", "mistralai.azure.client", "mistralai.gcp.client"),
        *("mistralai", "mistralai_azure", "mistralai_gcp"),
    ),
)
COHERE = Provider("llmperf_cohere", "cohere", "cohere >= 5.0", "cohere")

PROVIDERS: tuple[Provider, ...] = (OPENAI, ANTHROPIC, GOOGLE_GENAI, BEDROCK, MISTRAL, COHERE)
