# SPDX-License-Identifier: Apache-2.0
"""Import hooks that can be taken back: wrapt's post-import hooks, plus the removal wrapt lacks.

wrapt's hooks come with the whole of wrapt, whose import loads ``asyncio`` and
``importlib.metadata``: about 48 ms, more than everything else ``instrument()`` does. So wrapt is
imported only when it has work: while none of the watched modules has been imported, a small
finder of ours holds the hooks, and the first import of a watched module hands them all to
wrapt (whose finder then loads that very module). That import is an SDK's, which costs far more
and mostly loads ``asyncio`` anyway.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from otel_llmperf import _errors

_logger = _errors.logger("otel_llmperf")

Hook = Callable[[ModuleType], None]

_lock = threading.Lock()
_waiting: dict[str, list[Hook]] = {}  # module name -> hooks held until wrapt takes over


class _HandOver:
    """A meta path finder that hands the held hooks to wrapt when a watched module is imported."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        """``None`` for every other module; for a watched one, wrapt's finder answers."""
        if fullname not in _waiting:  # a dict lookup: every import of the application passes here
            return None
        finder = _hand_over()
        return finder.find_spec(fullname, path, target) if finder is not None else None


_HAND_OVER = _HandOver()


def _hand_over() -> Any:
    """Give every held hook to wrapt; wrapt's finder, which now sits first in ``sys.meta_path``."""
    import wrapt.importer as importer

    with _lock:
        waiting = list(_waiting.items())
        _waiting.clear()
        if _HAND_OVER in sys.meta_path:
            sys.meta_path.remove(_HAND_OVER)
    for name, hooks in waiting:
        for hook in hooks:
            importer.register_post_import_hook(hook, name)
    return next((finder for finder in sys.meta_path if isinstance(finder, importer.ImportHookFinder)), None)


def register(hook: Hook, name: str) -> None:
    """``hook(module)`` once module ``name`` is imported (now if it is), as wrapt's hooks do."""
    with _lock:
        # Checked under the lock that a hand-over takes: a module imported meanwhile is not missed.
        module = sys.modules.get(name)
        held = module is None and "wrapt.importer" not in sys.modules
        if held:
            _waiting.setdefault(name, []).append(hook)
            if _HAND_OVER not in sys.meta_path:
                sys.meta_path.insert(0, _HAND_OVER)
    if held:
        return
    if module is not None and "wrapt.importer" not in sys.modules:
        hook(module)  # already imported: what wrapt would do, without importing wrapt for it
        return
    from wrapt import register_post_import_hook

    register_post_import_hook(hook, name)


def unregister(hook: Hook, name: str) -> None:
    """Take back a hook that has not fired; a hook wrapt already ran is gone anyway."""
    with _lock:
        held = _waiting.get(name)
        if held and hook in held:
            held.remove(hook)
            if not held:
                del _waiting[name]
            if not _waiting and _HAND_OVER in sys.meta_path:
                sys.meta_path.remove(_HAND_OVER)
            return
    if "wrapt.importer" in sys.modules:
        _unregister(hook, name)


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
        register(fired, name)

    def cancel(self) -> None:
        """Take back the hooks that have not fired; any that still fires does nothing."""
        with self._lock:
            self.cancelled = True
            pending, self._pending = self._pending, []
        for name, hook in pending:
            unregister(hook, name)


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
