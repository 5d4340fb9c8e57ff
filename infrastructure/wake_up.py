"""Waking the image workers of a SQLite database the moment a photo is recorded.

Why: SQLite has no NOTIFY, so a worker used to poll once a second and an upload waited ~0.5 s on
average before anyone looked at it (issue 11: upload to ready p50 1.4 s on SQLite vs 0.85 s on
PostgreSQL). Now each worker that runs the image policy binds a Unix datagram socket in a private
directory named after the database file, and the API sends every socket there one byte after it
committed ``ImageAdded`` (or ``ImageRetryRequested``). A datagram carries nothing but "look now":
the worker still reads the event stream from its tracked position, so a lost, doubled or spurious
wake-up changes no outcome (exactly-once stays the tracking's job, docs/adr/0007), and the poll
remains as the safety net (docs/adr/0014).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import socket
import tempfile
import threading
import time
from contextlib import suppress
from pathlib import Path

_GONE = (ConnectionRefusedError, FileNotFoundError)  # a socket file left by a killed worker
_listeners = itertools.count()


def wake_up_directory(database: str) -> Path:
    """Where the workers of this SQLite database listen (short: socket paths are limited to 107 bytes)."""
    digest = hashlib.sha256(os.path.abspath(database).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"cosmo-wake-{digest}"


def wake_workers(database: str) -> int:
    """Nudge every worker listening for ``database``; return how many got the datagram.

    Never raises for a missing or dead listener: waking is an optimisation, and the record is
    already committed. A socket whose worker died is removed on the way.
    """
    try:
        listeners = list(wake_up_directory(database).iterdir())
    except OSError:  # no worker ever listened here, or the directory is another user's
        return 0
    woken = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for path in listeners:
            try:
                sender.sendto(b"!", str(path))
                woken += 1
            except _GONE:
                with suppress(OSError):
                    path.unlink(missing_ok=True)
            except OSError:
                continue  # a full queue (it has wake-ups pending already) or no permission
    return woken


class WakeUpListener:
    """One worker's socket: ``wait`` returns at a wake-up, at ``seconds``, or when ``stop`` is set."""

    def __init__(self, database: str, stop: threading.Event, stop_check_seconds: float) -> None:
        directory = wake_up_directory(database)
        directory.mkdir(mode=0o700, exist_ok=True)
        self.path = directory / f"{os.getpid()}-{next(_listeners)}"
        self.path.unlink(missing_ok=True)  # a socket of a killed process that had our pid
        self.stop = stop
        self.stop_check_seconds = stop_check_seconds
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(self.path))

    def wait(self, seconds: float) -> bool:
        """True when woken; False at the timeout or a stop request."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
            self._socket.settimeout(min(left, self.stop_check_seconds))
            try:
                self._socket.recv(64)
            except TimeoutError:
                continue
            self._drain()
            return True
        return False

    def _drain(self) -> None:
        """Several uploads may have woken us: one round handles them all."""
        self._socket.setblocking(False)
        with suppress(BlockingIOError):
            while self._socket.recv(64):
                pass

    def close(self) -> None:
        self._socket.close()
        self.path.unlink(missing_ok=True)
