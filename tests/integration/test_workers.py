"""The projection worker running live: wake-ups, concurrent writer processes, crashes, upgrades."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest
from django.db import connection

from domain.audit import AuditContext
from domain.service import PropertyService
from domain.values import PropertyKind
from infrastructure.workers import Worker
from projections.models import AuditTimelineEntry, ProjectionState, PropertyListing
from projections.property_list import PropertyListProjection
from projections.registry import all_projections
from projections.runner import rebuild
from projections.selectors import live_position
from tests.conftest import ROOT, process_env, quay_street, rent

WRITER = """
import sys, django
django.setup()
from domain.audit import AuditContext, Role, acting_as
from domain.values import Address, PropertyKind
from infrastructure.composition import property_service
service = property_service()
writer = sys.argv[1]
context = AuditContext("w" + writer, "writer" + writer, Role.MANAGER, "acme", "req-" + writer)
with acting_as(context):
    for n in range(int(sys.argv[2])):
        service.register_property(
            name=f"{writer}-{n}", kind=PropertyKind.LAND,
            address=Address("1 Quay St", "Lisbon", "1100-001", "PT"),
        )
"""


def wait_for(condition: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def worker(service: PropertyService) -> Iterator[Worker]:
    """A live worker thread with a long poll: on PostgreSQL only NOTIFY can wake it quickly."""
    running = Worker(
        service, all_projections(), poll_interval=30 if connection.vendor == "postgresql" else 0.05
    )
    thread = threading.Thread(target=running.run)
    thread.start()
    yield running
    running.stop.set()
    thread.join(timeout=60)
    assert not thread.is_alive()


def test_the_worker_picks_up_new_events_without_being_asked(
    worker: Worker, service: PropertyService, alice: AuditContext
) -> None:
    receipt = service.register_property(
        name="Live", kind=PropertyKind.HOUSE, address=quay_street(), rent=rent()
    )
    wait_for(lambda: PropertyListing.live().filter(property_id=receipt.id).exists())


def test_concurrent_writer_processes_each_event_applied_exactly_once(
    worker: Worker, service: PropertyService
) -> None:
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(n), "40"], cwd=ROOT, env=process_env())
        for n in range(3)
    ]
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    head = service.recorder.max_notification_id()
    wait_for(lambda: all(live_position(p.name) == head for p in all_projections()), seconds=60)
    assert PropertyListing.live().count() == 120
    entries = AuditTimelineEntry.live()
    assert entries.count() == 120
    assert entries.values("position").distinct().count() == 120
    assert sorted(PropertyListing.live().values_list("name", flat=True)) == sorted(
        f"{w}-{n}" for w in range(3) for n in range(40)
    )


def test_a_worker_killed_mid_batch_resumes_to_the_same_result(
    service: PropertyService, alice: AuditContext
) -> None:
    subprocess.run([sys.executable, "-c", WRITER, "7", "300"], cwd=ROOT, env=process_env(), check=True)
    head = service.recorder.max_notification_id() or 0
    command = [sys.executable, "manage.py", "run_workers", "--batch-size", "5", "--poll", "0.05"]
    victim = subprocess.Popen(command, cwd=ROOT, env=process_env(), stdout=subprocess.DEVNULL)
    wait_for(lambda: 0 < live_position("property_list") < head)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    stopped_at = live_position("property_list")
    assert stopped_at < head, "killed while work remained"
    survivor = subprocess.Popen(command, cwd=ROOT, env=process_env(), stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: all(live_position(p.name) == head for p in all_projections()), seconds=120)
    finally:
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(timeout=30) == 0
    assert PropertyListing.live().count() == 300
    assert AuditTimelineEntry.live().count() == 300
    for projection in all_projections():
        assert rebuild(projection, service, check=True).drift == [], projection.name


class PropertyListNext(PropertyListProjection):
    version: ClassVar[int] = PropertyListProjection.version + 1


def test_a_new_projection_version_is_rebuilt_when_the_worker_starts(
    service: PropertyService, alice: AuditContext
) -> None:
    service.register_property(
        name="Before the upgrade", kind=PropertyKind.HOUSE, address=quay_street(), rent=rent()
    )
    Worker(service, [PropertyListProjection()]).run_once()
    Worker(service, [PropertyListNext()]).run_once()
    state = ProjectionState.objects.get(name="property_list")
    assert (state.version, state.generation) == (PropertyListNext.version, 2)
    assert list(PropertyListing.live().values_list("name", flat=True)) == ["Before the upgrade"]
