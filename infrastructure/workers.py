"""The background work of a Cosmo process: the image policy and every projection's catch-up.

Catch-up first (a backlog is processed at start), then live: on PostgreSQL the worker sleeps
until the event store's NOTIFY or ``poll_interval`` (whichever comes first, so a lost
notification delays nothing by more than that); on SQLite a worker with the image policy sleeps
until the API's wake-up datagram (:mod:`infrastructure.wake_up`) or ``poll_interval``, and one
without simply polls. A projection whose code version changed is rebuilt (zero downtime) by the
worker that takes it on, in its first round. On PostgreSQL each projection is kept up by one
worker at a time, across hosts (:mod:`infrastructure.projection_leases`).

A worker never dies of a failed round (a database restart, a dropped connection, a bug in one
round): it logs the failure, closes its connections, backs off and starts again, so ``make run``
and ``run_workers`` recover by themselves. Each completed round is a heartbeat in the database,
which ``/ready`` reads to tell a live worker from a dead or hanging one in any process.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from eventsourcing.application import Application

from infrastructure.image_policy import ImagePolicy
from infrastructure.persistence import own_connection
from infrastructure.projection_leases import ProjectionLeases
from infrastructure.wake_up import WakeUpListener
from projections.models import ProjectionState, WorkerHeartbeat
from projections.projection import Projection
from projections.runner import (
    DATABASE_UNAVAILABLE,
    DEFAULT_BATCH_SIZE,
    ProjectionStalled,
    catch_up,
    ensure_state,
    rebuild,
)

logger = logging.getLogger(__name__)

Waiter = Callable[[float], object]
STOP_CHECK_SECONDS = 0.5
FIRST_BACKOFF_SECONDS = 0.25
LISTENER_CONNECT_TIMEOUT_SECONDS = 5
PROCESS = f"{socket.gethostname()}:{os.getpid()}"


class Backoff:
    """Doubling pauses between failed rounds, capped, back to the first one after a success."""

    def __init__(self, first: float = FIRST_BACKOFF_SECONDS, cap: float = 5.0) -> None:
        self.first, self.cap = first, cap
        self.failures = 0

    def next(self) -> float:
        self.failures += 1
        return float(min(self.cap, self.first * 2 ** (self.failures - 1)))

    def reset(self) -> None:
        self.failures = 0


class Worker:
    def __init__(
        self,
        app: Application[Any],
        projections: list[Projection],
        policy: ImagePolicy | None = None,
        poll_interval: float = 1.0,
        stop: threading.Event | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        keep_log: Callable[[], object] | None = None,
        leases: ProjectionLeases | None = None,
    ) -> None:
        self.app = app
        self.leases = leases  # None: this worker keeps every projection up (one host)
        self._taken: set[str] = set()  # projections owned since their version was last checked
        self.keep_log = keep_log  # the Merkle log's upkeep: backfill and checkpoints when due
        self.projections = projections
        self.policy = policy
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.stop = stop or threading.Event()
        self.name = policy.partition.tracking_name if policy is not None else "projections"
        self.backoff = Backoff(cap=settings.COSMO_WORKER_MAX_BACKOFF_SECONDS)
        self._last_beat = -float("inf")

    def run(self) -> None:
        """Rounds until stopped; a failed round is logged and retried after a growing pause."""
        try:
            while not self.stop.is_set():
                try:
                    with self._waiter() as wait:
                        while not self.stop.is_set():
                            self.run_once()
                            self.beat()
                            self.backoff.reset()
                            wait(self.poll_interval)
                except Exception as error:  # noqa: BLE001 - a worker that dies stops every photo
                    delay = self.backoff.next()
                    logger.error(
                        "worker round failed; retrying",
                        extra={
                            "worker": self.name,
                            "error": repr(error),
                            "failures": self.backoff.failures,
                            "retry_in_seconds": delay,
                        },
                    )
                    _close_quietly()
                    self.stop.wait(delay)
        finally:
            with suppress(Exception):
                WorkerHeartbeat.objects.filter(name=self.name, process=PROCESS).delete()
            if self.leases is not None:
                self.leases.release()
            _close_quietly()

    def beat(self) -> None:
        """Record that a round completed (at most every few seconds: it is a write)."""
        now = time.monotonic()
        if now - self._last_beat < settings.COSMO_WORKER_HEARTBEAT_SECONDS:
            return
        WorkerHeartbeat.objects.update_or_create(
            name=self.name, defaults={"process": PROCESS, "beat_at": timezone.now()}
        )
        self._last_beat = now

    def run_once(self) -> int:
        """Some images, then every projection this worker owns; a stalled one is logged, the others go on."""
        close_old_connections()
        applied = 0
        if self.policy is not None:
            applied += self.policy.run_once()
        for projection in self.owned_projections():
            try:
                applied += catch_up(projection, self.app, self.batch_size)
            except ProjectionStalled as stalled:
                logger.error(
                    "projection stalled", extra={"projection": projection.name, "error": str(stalled)}
                )
        if self.keep_log is not None:
            self.keep_log()
        return applied

    def owned_projections(self) -> list[Projection]:
        """The projections this worker keeps up now, each rebuilt first if its code version changed.

        With leases, only those whose lease it holds (taking any that are free); the version is
        checked whenever a lease is taken, so a worker that takes over from a dead one of an older
        release rebuilds what that one left.
        """
        if self.leases is None:
            owned = self.projections
        else:
            # A lease taken (again: the last one may have been lost with its connection) is checked again.
            self._taken -= self.leases.renew(p.name for p in self.projections)
            owned = [p for p in self.projections if p.name in self.leases.held]
        for projection in owned:
            if projection.name not in self._taken:
                self._rebuild_if_outdated(projection)
                self._taken.add(projection.name)
        return owned

    def _rebuild_if_outdated(self, projection: Projection) -> None:
        state = ensure_state(projection)
        if state.version != projection.version:
            logger.info(
                "rebuilding outdated projection",
                extra={"projection": projection.name, "from": state.version, "to": projection.version},
            )
            rebuild(projection, self.app)
            assert ProjectionState.objects.get(name=projection.name).version == projection.version

    @contextmanager
    def _waiter(self) -> Iterator[Waiter]:
        if connection.vendor == "sqlite" and self.policy is not None:
            wake_ups = WakeUpListener(str(connection.settings_dict["NAME"]), self.stop, STOP_CHECK_SECONDS)
            try:
                yield wake_ups.wait
            finally:
                wake_ups.close()
            return
        if connection.vendor != "postgresql":

            def poll(seconds: float) -> None:
                self.stop.wait(seconds)

            yield poll
            return
        channel = self.app.recorder.events_table_name  # type: ignore[attr-defined]
        with own_connection(
            connection.settings_dict, f"cosmo-listener:{PROCESS}", LISTENER_CONNECT_TIMEOUT_SECONDS
        ) as listener:
            listener.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel)))

            def wait(seconds: float) -> None:
                """Until a NOTIFY, ``seconds``, or a stop request (checked twice a second)."""
                deadline = time.monotonic() + seconds
                while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
                    if any(
                        True for _ in listener.notifies(timeout=min(left, STOP_CHECK_SECONDS), stop_after=1)
                    ):
                        return

            yield wait


def build_when_reachable(build: Callable[[], Worker], stop: threading.Event) -> Worker | None:
    """``build()``, retried with backoff while the database is unreachable; None if stopped first.

    Building connects (the event store reads its schema), so a ``run_workers`` started while the
    database restarts waits for it instead of exiting.
    """
    backoff = Backoff(cap=settings.COSMO_WORKER_MAX_BACKOFF_SECONDS)
    while not stop.is_set():
        try:
            return build()
        except DATABASE_UNAVAILABLE as error:
            delay = backoff.next()
            logger.error(
                "workers cannot start: database unavailable; retrying",
                extra={"error": repr(error), "failures": backoff.failures, "retry_in_seconds": delay},
            )
            _close_quietly()
            stop.wait(delay)
    return None


def _close_quietly() -> None:
    """Drop this thread's Django connection, which may be broken; the next round opens a new one."""
    with suppress(Exception):
        connection.close()


_in_process: list[threading.Thread] = []


def start_in_thread(worker: Worker) -> threading.Thread:
    """Run ``worker`` beside the server in this process (``manage.py serve``), watched by ``/ready``."""
    thread = threading.Thread(target=worker.run, name=f"cosmo-workers:{worker.name}", daemon=True)
    thread.start()
    _in_process.append(thread)
    return thread


def worker_problems() -> list[str]:
    """Why the background work is not healthy: a dead in-process thread or a stale heartbeat.

    A worker that never started leaves no row, so a deployment without workers (or a test) is not
    reported; one that stopped cleanly removed its row; one that died or hangs is.
    """
    problems = [f"{thread.name} thread is dead" for thread in _in_process if not thread.is_alive()]
    stale_after = settings.COSMO_READY_WORKER_STALE_SECONDS
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    for name, process, beat_at in WorkerHeartbeat.objects.filter(beat_at__lt=cutoff).values_list(
        "name", "process", "beat_at"
    ):
        silent = (timezone.now() - beat_at).total_seconds()
        problems.append(f"worker {name} ({process}) silent for {silent:.0f} s")
    return problems
