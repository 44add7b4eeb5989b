# SPDX-License-Identifier: Apache-2.0
"""A/B variants: ``with otel_llmperf.variant("b"):`` tags calls, feedback and evaluations.

The active variant lives in a ``ContextVar``, so it follows ``await`` and asyncio tasks
natively. Threads do not inherit context variables in CPython, so while otel-llmperf is
instrumented, ``threading.Thread.start`` and ``ThreadPoolExecutor.submit`` carry the variant of
the code that started them (and nothing else of the context). A pool task runs with the variant
of the code that submitted it, or with none, whatever thread runs it: a pool's worker threads,
which outlive the ``variant()`` block that happened to start them, take no variant of their own.
``executor.map``, ``loop.run_in_executor`` and ``asyncio.to_thread`` all submit through
``ThreadPoolExecutor.submit``; ``multiprocessing.pool.ThreadPool`` tasks (``apply``, ``map``,
``imap``, ``starmap`` and their async forms) carry it the same way. A process pool's tasks carry
none: the variant stays in the process that set it. The consent decision of
``otel_llmperf.consent()`` travels the same way, with the variant.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from contextvars import ContextVar
from types import ModuleType
from typing import Any, TypeVar

from otel_llmperf.consent_policy import CONSENT
from otel_llmperf.import_hooks import Watch
from otel_llmperf.labels import OVERFLOW, VARIANTS, check_label
from otel_llmperf.scopes import ContextScope

_F = TypeVar("_F", bound=Callable[..., Any])

_CURRENT: ContextVar[str | None] = ContextVar("otel_llmperf_variant", default=None)
_OUTER: ContextVar[tuple[str | None, ...]] = ContextVar("otel_llmperf_outer_variants", default=())
# (experiment label, variant label) of the innermost assign() block. Calls take the experiment
# only while their variant is still that block's: a variant() block inside does not inherit it.
_ASSIGNED: ContextVar[tuple[str, str] | None] = ContextVar("otel_llmperf_assigned", default=None)
_OUTER_ASSIGNED: ContextVar[tuple[tuple[str, str] | None, ...]] = ContextVar("otel_llmperf_outer_assigned", default=())
_default: str | None = None
# What a thread or pool task takes from the code that started it: the variant and the consent decision.
_CARRIED: tuple[ContextVar[Any], ...] = (_CURRENT, CONSENT)
_NOTHING: tuple[tuple[ContextVar[Any], Any], ...] = tuple((var, None) for var in _CARRIED)
# Shared with feedback tokens and evaluations: one cap per label key.
_names = VARIANTS


def configure(default: str | None, max_variants: int) -> None:
    """Set the process default variant and the cap on distinct names (at instrument time)."""
    global _default
    _names.reset(max_variants)
    _default = _names.admit(default) if default else None


def current_variant() -> str | None:
    """The variant in effect here: the innermost ``variant()`` block, else the process default."""
    return _CURRENT.get() or _default


def current_experiment(variant_name: str | None) -> str | None:
    """The experiment whose ``assign()`` block set ``variant_name`` here, if that block is the innermost."""
    assigned = _ASSIGNED.get()
    if assigned is None or assigned[1] != variant_name:
        return None
    return assigned[0]


def enter_assigned(experiment: str, name: str) -> None:
    """Enter an assignment: ``name`` is the variant and ``experiment`` its experiment until :func:`exit_assigned`."""
    _OUTER.set((*_OUTER.get(), _CURRENT.get()))
    _OUTER_ASSIGNED.set((*_OUTER_ASSIGNED.get(), _ASSIGNED.get()))
    _CURRENT.set(name)
    _ASSIGNED.set((experiment, name))


def exit_assigned() -> None:
    """Leave the innermost assignment entered with :func:`enter_assigned`."""
    outer = _OUTER.get()
    _CURRENT.set(outer[-1] if outer else None)
    _OUTER.set(outer[:-1])
    assigned = _OUTER_ASSIGNED.get()
    _ASSIGNED.set(assigned[-1] if assigned else None)
    _OUTER_ASSIGNED.set(assigned[:-1])


def run_assigned(experiment: str, name: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` inside an assignment (for decorators; tokens restore exactly)."""
    token = _CURRENT.set(name)
    assigned = _ASSIGNED.set((experiment, name))
    try:
        return function(*args, **kwargs)
    finally:
        _ASSIGNED.reset(assigned)
        _CURRENT.reset(token)


async def run_assigned_async(
    experiment: str, name: str, function: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """``await function(*args, **kwargs)`` inside an assignment."""
    token = _CURRENT.set(name)
    assigned = _ASSIGNED.set((experiment, name))
    try:
        return await function(*args, **kwargs)
    finally:
        _ASSIGNED.reset(assigned)
        _CURRENT.reset(token)


class variant(ContextScope[str]):
    """Tag everything inside with ``llmperf.variant``; a context manager and a decorator.

    >>> with variant("b"):
    ...     pass  # calls, feedback and evaluations here carry llmperf.variant="b"
    """

    _var = _CURRENT
    _outer = _OUTER

    def __init__(self, name: str) -> None:
        self.name = _names.admit(check_label("variant", name))

    def _value(self) -> str:
        return self.name


def _carried() -> tuple[tuple[ContextVar[Any], Any], ...]:
    return tuple((var, var.get()) for var in _CARRIED)


def _carry(values: tuple[tuple[ContextVar[Any], Any], ...], function: Callable[..., Any]) -> Callable[..., Any]:
    # No functools.wraps: every executor task goes through here, and it would cost more than
    # the rest of this wrapper; executors and Thread.run never read a task's name.
    def with_variant(*args: Any, **kwargs: Any) -> Any:
        tokens = [var.set(value) for var, value in values]
        try:
            return function(*args, **kwargs)
        finally:
            for (var, _), token in zip(reversed(values), reversed(tokens), strict=True):
                var.reset(token)

    return with_variant


def _thread_start(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    values = _carried()
    if values != _NOTHING:
        # Per instance, so Thread subclasses that override run() are covered too.
        instance.run = _carry(values, instance.run)
    return wrapped(*args, **kwargs)


def _executor_submit(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not args:
        return wrapped(*args, **kwargs)
    # No variant is carried too: the worker that runs the task may have been started (and so
    # tagged) inside a variant() block, and the task must not inherit that.
    task = _carry(_carried(), args[0])
    # submit() may start a worker thread; it lives on after this variant, so it must not carry it.
    return _without_variant(wrapped, instance, (task, *args[1:]), kwargs)


def _without_variant(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # multiprocessing's ThreadPool starts its workers (and the thread that replaces dead ones)
    # when it is created: they outlive the variant() block around it, so they take none.
    return _carry(_NOTHING, wrapped)(*args, **kwargs)


def _pool_task(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # apply_async, _map_async (map, starmap and their async forms), imap, imap_unordered: the
    # function comes first; it runs on a worker with the variant of the code that handed it in.
    if not args:
        return wrapped(*args, **kwargs)
    return wrapped(_carry(_carried(), args[0]), *args[1:], **kwargs)


_POOL_TASK_METHODS = ("apply_async", "_map_async", "imap", "imap_unordered")

_patched: list[tuple[Any, str, Any]] = []
_patch_lock = threading.Lock()
_watch: Watch | None = None

# Patched when their module is imported: an application that uses neither never loads them.
_POOLS: tuple[tuple[str, str, tuple[tuple[str, Any], ...]], ...] = (
    ("concurrent.futures.thread", "ThreadPoolExecutor", (("submit", _executor_submit),)),
    (
        "multiprocessing.pool",
        "ThreadPool",
        # Only the thread pool: a process pool pickles its functions, and a carrier would not pickle.
        (("__init__", _without_variant), *((name, _pool_task) for name in _POOL_TASK_METHODS)),
    ),
)


def _wrap(owner: Any, methods: tuple[tuple[str, Any], ...], watch: Watch | None) -> None:
    # Plain functions, not wrapt wrappers: instrument() must not import wrapt for these.
    with _patch_lock:
        if watch is not _watch:
            return  # propagation was stopped before the module was imported
        for name, wrapper in methods:
            # ThreadPool inherits most of these from Pool: None means "delete ours to undo".
            original = vars(owner).get(name)
            setattr(owner, name, _patched_method(getattr(owner, name), wrapper))
            _patched.append((owner, name, original))


def _patched_method(target: Callable[..., Any], wrapper: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return wrapper(target.__get__(self), self, args, kwargs)

    return functools.update_wrapper(method, target)


def _wrap_when_imported(watch: Watch, cls: str, methods: tuple[tuple[str, Any], ...], module: ModuleType) -> None:
    _wrap(getattr(module, cls), methods, watch)


def propagate_to_threads() -> None:
    """Carry the variant into threads and executor tasks started inside a ``variant()`` block."""
    global _watch
    with _patch_lock:
        if _watch is not None:
            return
        watch = _watch = Watch()
    _wrap(threading.Thread, (("start", _thread_start),), watch)
    for module, cls, methods in _POOLS:
        watch.on_import(module, functools.partial(_wrap_when_imported, watch, cls, methods))


def stop_propagating() -> None:
    """Undo :func:`propagate_to_threads`, restoring the original methods."""
    global _watch
    with _patch_lock:
        watch, _watch = _watch, None
        while _patched:
            owner, name, original = _patched.pop()
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
    if watch is not None:
        watch.cancel()


__all__ = [
    "OVERFLOW",
    "configure",
    "current_experiment",
    "current_variant",
    "enter_assigned",
    "exit_assigned",
    "propagate_to_threads",
    "run_assigned",
    "run_assigned_async",
    "stop_propagating",
    "variant",
]
