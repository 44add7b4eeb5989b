# SPDX-License-Identifier: Apache-2.0
"""Import hooks that can be taken back: wrapt's post-import hooks, plus the removal wrapt lacks."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from types import ModuleType

from otel_llmperf import _errors

_logger = _errors.logger("otel_llmperf")

Hook = Callable[[ModuleType], None]


class Watch:
    """Import hooks that can be taken back together: each fires once, none after :meth:`cancel`.

    The callback runs in the importing thread once the module's import has completed (at once
    when it is already imported); whatever it raises is reported, never passed to the import.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[str, Hook]] = []
        self.cancelled = False

    def on_import(self, name: str, callback: Callable[[ModuleType], None]) -> None:
        """Run ``callback(module)`` when module ``name`` is imported, or now if it is."""

        def fired(module: ModuleType) -> None:
            try:
                with self._lock:
                    if self.cancelled:
                        return
                    self._pending = [(n, h) for n, h in self._pending if h is not fired]
                # A module another thread is still importing is waited for here (the import
                # system's own lock): wrapt counts a module as imported as soon as it is listed.
                callback(importlib.import_module(module.__name__))
            except Exception as error:
                _errors.report(f"instrumenting {name} as it was imported", error)

        with self._lock:
            if self.cancelled:
                return
            self._pending.append((name, fired))
        from wrapt import register_post_import_hook

        register_post_import_hook(fired, name)

    def cancel(self) -> None:
        """Take back the hooks that have not fired; any that still fires does nothing."""
        with self._lock:
            self.cancelled = True
            pending, self._pending = self._pending, []
        for name, hook in pending:
            _unregister(hook, name)


def _unregister(hook: Hook, name: str) -> None:
    # wrapt has no public way to take a hook back and keeps pending ones in a private dict;
    # should that change, the cancelled flag still turns a hook left behind into a no-op.
    try:
        import wrapt.importer as importer

        with importer._post_import_hooks_lock:
            pending = importer._post_import_hooks.get(name)
            if pending and hook in pending:
                pending.remove(hook)
                if not pending:
                    del importer._post_import_hooks[name]
    except Exception as error:
        _logger.debug("otel-llmperf: could not take back the import hook of %s (%s)", name, error)
