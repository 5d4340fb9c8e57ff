"""The background work of a Cosmo process: the image policy and every projection's catch-up.

Catch-up first (a backlog is processed at start), then live: on PostgreSQL the worker sleeps
until the event store's NOTIFY or ``poll_interval`` (whichever comes first, so a lost
notification delays nothing by more than that); on SQLite it polls. A projection whose code
version changed is rebuilt (zero downtime) before the loop starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import close_old_connections, connection
from eventsourcing.application import Application

from infrastructure.image_policy import ImagePolicy
from projections.models import ProjectionState
from projections.projection import Projection
from projections.runner import DEFAULT_BATCH_SIZE, ProjectionStalled, catch_up, ensure_state, rebuild

logger = logging.getLogger(__name__)

Waiter = Callable[[float], None]
STOP_CHECK_SECONDS = 0.5


class Worker:
    def __init__(
        self,
        app: Application[Any],
        projections: list[Projection],
        policy: ImagePolicy | None = None,
        poll_interval: float = 1.0,
        stop: threading.Event | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.app = app
        self.projections = projections
        self.policy = policy
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.stop = stop or threading.Event()

    def run(self) -> None:
        try:
            self.rebuild_outdated()
            with self._waiter() as wait:
                while not self.stop.is_set():
                    self.run_once()
                    wait(self.poll_interval)
        finally:
            connection.close()

    def run_once(self) -> int:
        """Some images, then every projection; a stalled projection is logged, the others go on."""
        close_old_connections()
        applied = 0
        if self.policy is not None:
            applied += self.policy.run_once()
        for projection in self.projections:
            try:
                applied += catch_up(projection, self.app, self.batch_size)
            except ProjectionStalled as stalled:
                logger.error(
                    "projection stalled", extra={"projection": projection.name, "error": str(stalled)}
                )
        return applied

    def rebuild_outdated(self) -> None:
        for projection in self.projections:
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
        if connection.vendor != "postgresql":

            def poll(seconds: float) -> None:
                self.stop.wait(seconds)

            yield poll
            return
        channel = self.app.recorder.events_table_name  # type: ignore[attr-defined]
        settings = connection.settings_dict
        with psycopg.connect(
            dbname=settings["NAME"],
            host=settings["HOST"] or "127.0.0.1",
            port=settings["PORT"] or 5432,
            user=settings["USER"] or "postgres",
            password=settings["PASSWORD"] or None,
            autocommit=True,
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
