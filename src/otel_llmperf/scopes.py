# SPDX-License-Identifier: Apache-2.0
"""A value held in a context variable for a ``with`` block (sync or async) or a decorated function's calls.

``variant("b")`` and ``consent(False)`` are both this: the previous values live in a second context
variable, not on the object, so one instance can be entered by many threads and tasks at once.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar, cast

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])


class ContextScope(Generic[_T]):
    """Base of ``variant`` and ``consent``: subclasses name their two context variables and their value."""

    _var: ClassVar[ContextVar[Any]]
    _outer: ClassVar[ContextVar[tuple[Any, ...]]]

    def _value(self) -> _T:
        raise NotImplementedError

    def __enter__(self) -> _T:
        var, outer, value = type(self)._var, type(self)._outer, self._value()
        outer.set((*outer.get(), var.get()))
        var.set(value)
        return value

    def __exit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        var, outer = type(self)._var, type(self)._outer
        previous = outer.get()
        var.set(previous[-1] if previous else None)
        outer.set(previous[:-1])

    async def __aenter__(self) -> _T:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, error, traceback)

    def __call__(self, function: _F) -> _F:
        """Run every call of ``function`` (sync or async) with this value."""
        var, value = type(self)._var, self._value()
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                token = var.set(value)
                try:
                    return await function(*args, **kwargs)
                finally:
                    var.reset(token)

            return cast(_F, run_async)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            token = var.set(value)
            try:
                return function(*args, **kwargs)
            finally:
                var.reset(token)

        return cast(_F, run)
