"""Two pieces of one job done at once: one on this thread, the other on an executor's thread."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

A = TypeVar("A")
B = TypeVar("B")


def both(executor: Executor | None, mine: Callable[[], A], other: Callable[[], B]) -> tuple[A, B]:
    """``mine()`` on this thread while ``other()`` runs on ``executor``; both results.

    When every thread of the executor is still busy with something else once ``mine()`` is done,
    this thread takes ``other()`` back and does it too: the caller never sits waiting for a queue
    (and a task never waits for one queued behind it). Without an executor, one after the other.
    """
    if executor is None:
        return mine(), other()
    pending = executor.submit(other)
    result = mine()
    if pending.cancel():
        return result, other()
    return result, pending.result()
