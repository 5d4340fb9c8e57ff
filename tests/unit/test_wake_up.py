"""The SQLite wake-up channel between the API and the image workers (infrastructure/wake_up.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.wake_up import WakeUpListener, wake_up_directory, wake_workers


@pytest.fixture
def database(tmp_path: Path) -> str:
    return str(tmp_path / "cosmo.sqlite3")


@pytest.fixture
def listener(database: str) -> Iterator[WakeUpListener]:
    listening = WakeUpListener(database, threading.Event(), stop_check_seconds=0.05)
    yield listening
    listening.close()


def test_a_listening_worker_is_woken_by_the_api(database: str, listener: WakeUpListener) -> None:
    assert wake_workers(database) == 1
    assert listener.wait(30) is True


def test_several_wake_ups_make_one_round(database: str, listener: WakeUpListener) -> None:
    for _ in range(5):
        wake_workers(database)
    assert listener.wait(30) is True
    assert listener.wait(0.05) is False, "the queued datagrams were drained by the first wake-up"


def test_every_worker_of_the_database_is_woken_and_no_other(database: str, tmp_path: Path) -> None:
    stop = threading.Event()
    mine = [WakeUpListener(database, stop, 0.05) for _ in range(2)]
    other = WakeUpListener(str(tmp_path / "other.sqlite3"), stop, 0.05)
    try:
        assert wake_workers(database) == 2
        assert all(listening.wait(30) for listening in mine)
        assert other.wait(0.05) is False
    finally:
        for listening in [*mine, other]:
            listening.close()


def test_without_a_worker_waking_is_a_no_op(database: str) -> None:
    assert wake_workers(database) == 0


def test_the_socket_of_a_killed_worker_is_removed(database: str) -> None:
    directory = wake_up_directory(database)
    directory.mkdir(mode=0o700, exist_ok=True)
    dead = directory / "0-0"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as gone:
        gone.bind(str(dead))  # closed without unlinking, as a SIGKILL leaves it
    assert wake_workers(database) == 0
    assert not dead.exists()


def test_a_stop_request_ends_the_wait(listener: WakeUpListener) -> None:
    listener.stop.set()
    assert listener.wait(30) is False


def test_a_closed_listener_leaves_no_socket_behind(database: str) -> None:
    listening = WakeUpListener(database, threading.Event(), 0.05)
    listening.close()
    assert not listening.path.exists()
    assert wake_workers(database) == 0
