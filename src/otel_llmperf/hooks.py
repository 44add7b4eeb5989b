# SPDX-License-Identifier: Apache-2.0
"""When a provider SDK is patched: as the application imports it (wrapt post-import hooks).

``instrument()`` registers a hook on each installed SDK's top-level module and imports nothing
of the SDK: an application that uses only ``openai`` never loads the other five. A module
imported before ``instrument()`` is patched at once, one imported later as its import
completes, in the importing thread. ``uninstrument()`` takes back the hooks that have not
fired (:class:`~otel_llmperf.import_hooks.Watch`) and removes what was patched, so instrumenting
again never stacks.

The heavy part, building the telemetry and the wrappers (:mod:`otel_llmperf.patching`), is
imported by the first hook that fires, on the application's way through the SDK's own import.
"""

from __future__ import annotations

import functools
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any

from otel_llmperf import _errors
from otel_llmperf.import_hooks import Watch

if TYPE_CHECKING:
    from otel_llmperf.config import Settings
    from otel_llmperf.invocation import Telemetry
    from otel_llmperf.layering import SelfTracing
    from otel_llmperf.patching import ProviderPatches
    from otel_llmperf.providers.base import ProviderAdapter
    from otel_llmperf.providers.catalog import Provider

_logger = _errors.logger("otel_llmperf")


class ProviderHooks:
    """Patches one provider SDK module by module as the application imports it.

    Two stages, so that ``instrument()`` imports no adapter either: a hook on each of the SDK's
    top-level modules loads the adapter, which names the modules to patch; a hook on each of
    those applies the patches.
    """

    def __init__(
        self,
        provider: Provider,
        settings: Settings,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        check_version: bool = True,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.check_version = check_version
        self._lock = threading.Lock()
        self._watch: Watch | None = None
        self._adapter: tuple[ProviderAdapter, SelfTracing | None] | None = None
        self._patches: ProviderPatches | None = None

    def start(self) -> None:
        """Register the hooks; modules already imported are patched before this returns."""
        watch = Watch()
        with self._lock:
            self._watch = watch
        for root in self.provider.roots:
            watch.on_import(root, functools.partial(self._root_imported, watch))

    def stop(self) -> None:
        """Take back the hooks that have not fired and remove every patch applied."""
        with self._lock:
            watch, self._watch = self._watch, None
            patches, self._patches = self._patches, None
            self._adapter = None
        if watch is not None:
            watch.cancel()
        if patches is not None:
            patches.remove()

    @property
    def patched_count(self) -> int:
        """How many SDK methods are wrapped now."""
        patches = self._patches
        return len(patches.patches) if patches is not None else 0

    @property
    def imported(self) -> bool:
        """Whether the SDK has been imported (and so patched) yet."""
        return self._patches is not None

    @property
    def telemetry(self) -> Telemetry | None:
        """The telemetry recording this SDK's calls, once it was imported."""
        patches = self._patches
        return patches.telemetry if patches is not None else None

    def _root_imported(self, watch: Watch, module: ModuleType) -> None:
        with self._lock:
            if watch is not self._watch or self._adapter is not None:
                return  # the SDK has several roots (mistralai): the first one does this
            self._adapter = loaded = self.provider.load()
        adapter, self_tracing = loaded
        modules = [target.module for target in adapter.patch_targets()]
        if self_tracing is not None and not self.settings.sdk_spans:
            modules.append(self_tracing.module)
        for name in dict.fromkeys(modules):
            watch.on_import(name, functools.partial(self._module_imported, watch))

    def _module_imported(self, watch: Watch, module: ModuleType) -> None:
        from otel_llmperf.patching import ProviderPatches  # the first import of it takes a while: not under our lock

        with self._lock:
            loaded = self._adapter if watch is self._watch else None
        if loaded is None:
            return
        adapter, self_tracing = loaded
        built = None
        if self._patches is None:
            built = ProviderPatches(
                adapter, self.settings, self.tracer_provider, self.meter_provider, self.check_version
            )
        name = module.__name__
        first = False
        with self._lock:
            if watch is not self._watch:
                return
            if self._patches is None and built is not None:
                self._patches, first = built, True
                _logger.info("otel-llmperf: %s %s imported; patching it", adapter.package, built.version)
            patches = self._patches
            if patches is None:  # pragma: no cover - set just above
                return
            if self_tracing is not None and name == self_tracing.module and not self.settings.sdk_spans:
                patches.guard_sdk_spans(self_tracing, module)
            if any(target.module == name for target in adapter.patch_targets()):
                patches.apply(name)
        if first:
            # Here, on the application's way through importing the SDK (whose pydantic the price
            # data shares; tens of ms), not in its first call; and in this thread, since a thread
            # of our own importing beside the application's could meet it in an import cycle.
            self.settings.prices.warm()
