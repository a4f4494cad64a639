"""Sync twins of the package's coroutines: :func:`run_sync` and :func:`sync_twin`.

Every public coroutine (``PicacoOptimizer.aoptimize``, ``acompare``, ``ajailbreak_probe``, ...)
has a sync twin that runs it to completion, also from inside a running event loop (a notebook),
where ``asyncio.run`` refuses. Nothing here knows about models or the optimiser, so any layer may
import it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

__all__ = ["run_sync", "sync_twin"]

T = TypeVar("T")
P = ParamSpec("P")


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, also inside a running loop (notebooks)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())  # type: ignore[arg-type]
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="picaco-run")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def sync_twin(
    coroutine_function: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[[Callable[..., T]], Callable[P, T]]:
    """Make the decorated stub the sync twin of ``coroutine_function`` (run with :func:`run_sync`).

    The parameters and their documentation are written once, on the coroutine function: the twin
    takes exactly those parameters (type checkers see them through ``ParamSpec``) and carries its
    signature and docstring (``inspect.signature`` and ``help()`` show them). The stub gives the
    twin its name; its body is never run.

    Example:
        >>> async def aadd(a: int, *, b: int = 1) -> int:
        ...     '''Add ``b`` to ``a``.'''
        ...     return a + b
        >>> @sync_twin(aadd)
        ... def add(*args: Any, **kwargs: Any) -> int:
        ...     '''Sync :func:`aadd`.'''
        >>> add(2, b=3), add.__doc__
        (5, 'Add ``b`` to ``a``.')

    Args:
        coroutine_function: The async function the twin runs.

    Returns:
        A decorator turning the stub into the twin.
    """

    def decorate(stub: Callable[..., T]) -> Callable[P, T]:
        @functools.wraps(stub, assigned=("__module__", "__name__", "__qualname__"))
        def twin(*args: P.args, **kwargs: P.kwargs) -> T:
            return run_sync(lambda: coroutine_function(*args, **kwargs))

        twin.__doc__ = coroutine_function.__doc__
        twin.__signature__ = inspect.signature(coroutine_function)  # type: ignore[attr-defined]
        twin.__annotations__ = dict(coroutine_function.__annotations__)
        return twin

    return decorate
