"""Each projection is kept up by one worker at a time, across processes (PostgreSQL advisory locks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from django.db import connection

from domain.audit import AuditContext
from domain.service import PropertyService
from domain.values import PropertyKind
from infrastructure.projection_leases import LOCK_NAMESPACE, ProjectionLeases, lock_key
from infrastructure.workers import Worker
from projections.registry import PROJECTIONS, all_projections
from projections.selectors import live_position
from tests.conftest import ROOT, process_env, quay_street

pytestmark = pytest.mark.skipif(
    "postgresql" not in os.environ.get("DATABASE_URL", ""),
    reason="leases are PostgreSQL advisory locks; on SQLite every worker keeps every projection up",
)


def register(service: PropertyService, name: str) -> int:
    """A write that catches no read model up (the API's answer would): only a worker moves them."""
    receipt = service.register_property(name=name, kind=PropertyKind.HOUSE, address=quay_street())
    assert receipt.position is not None
    return receipt.position


def positions() -> dict[str, int]:
    return {name: live_position(name) for name in PROJECTIONS}


def leased_worker(service: PropertyService, process: str) -> Worker:
    return Worker(service, all_projections(), leases=ProjectionLeases(connection.settings_dict, process))


@pytest.fixture
def workers(service: PropertyService) -> Iterator[tuple[Worker, Worker]]:
    first, second = leased_worker(service, "first"), leased_worker(service, "second")
    yield first, second
    for worker in (first, second):
        assert worker.leases is not None
        worker.leases.release()


def test_every_projection_has_its_own_lock() -> None:
    assert len({lock_key(name) for name in PROJECTIONS}) == len(PROJECTIONS)


def test_only_the_lease_holder_moves_a_projection_and_another_takes_over_when_it_goes(
    workers: tuple[Worker, Worker], service: PropertyService, alice: AuditContext
) -> None:
    first, second = workers
    assert first.leases is not None
    assert second.leases is not None
    first.run_once()
    second.run_once()
    assert (first.leases.held, second.leases.held) == (set(PROJECTIONS), set())

    head = register(service, "for the holder")
    assert second.run_once() == 0
    assert all(position < head for position in positions().values())
    first.run_once()
    assert positions() == dict.fromkeys(PROJECTIONS, head)

    first.leases.release()  # as a dead worker's session ends
    head = register(service, "for the survivor")
    second.run_once()
    assert second.leases.held == set(PROJECTIONS)
    assert positions() == dict.fromkeys(PROJECTIONS, head)


def held_locks() -> dict[str, str]:
    """Projection lock -> the application name of the session that holds it, from ``pg_locks``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.objid, a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.classid = %s AND l.granted AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
            [LOCK_NAMESPACE],
        )
        by_key = dict(cursor.fetchall())
    return {name: by_key[lock_key(name)] for name in PROJECTIONS if lock_key(name) in by_key}


def wait_for(condition: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_two_worker_processes_share_the_projections_and_a_killed_owner_is_replaced(
    service: PropertyService, alice: AuditContext
) -> None:
    command = [sys.executable, "manage.py", "run_workers", "--poll", "0.1"]
    first = subprocess.Popen(command, cwd=ROOT, env=process_env(), stdout=subprocess.DEVNULL)
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: set(held_locks().values()) == {f"cosmo-leases:{socket.gethostname()}:{first.pid}"})
        assert set(held_locks()) == set(PROJECTIONS)
        second = subprocess.Popen(command, cwd=ROOT, env=process_env(), stdout=subprocess.DEVNULL)
        head = register(service, "while both run")
        wait_for(lambda: positions() == dict.fromkeys(PROJECTIONS, head))
        assert set(held_locks().values()) == {f"cosmo-leases:{socket.gethostname()}:{first.pid}"}

        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        survivor = f"cosmo-leases:{socket.gethostname()}:{second.pid}"
        wait_for(lambda: held_locks() == dict.fromkeys(PROJECTIONS, survivor))
        head = register(service, "after the owner died")
        wait_for(lambda: positions() == dict.fromkeys(PROJECTIONS, head))
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                assert process.wait(timeout=30) == 0
