"""``both``: half of a job on the calling thread, half on an executor, never stuck behind a queue."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from infrastructure.images.sharing import both


def test_the_other_half_runs_on_the_executor_while_this_thread_does_its_own() -> None:
    started = threading.Event()
    with ThreadPoolExecutor(1) as executor:

        def other() -> str:
            started.set()
            return threading.current_thread().name

        def mine() -> str:
            assert started.wait(5), "the other half should run while this one does"
            return threading.current_thread().name

        here, there = both(executor, mine, other)
    assert here == threading.current_thread().name
    assert there != here


def test_with_every_executor_thread_busy_the_calling_thread_does_both_halves() -> None:
    release = threading.Event()
    with ThreadPoolExecutor(1) as executor:
        executor.submit(release.wait, 5)  # a long task ahead in the queue
        here, there = both(
            executor, lambda: threading.current_thread().name, lambda: threading.current_thread().name
        )
        release.set()
    assert here == there == threading.current_thread().name


def test_without_an_executor_the_halves_run_in_order() -> None:
    calls: list[str] = []

    def call(name: str, value: int) -> int:
        calls.append(name)
        return value

    assert both(None, lambda: call("mine", 1), lambda: call("other", 2)) == (1, 2)
    assert calls == ["mine", "other"]
