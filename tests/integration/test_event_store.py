"""The event store on a real database (SQLite or PostgreSQL, whichever DATABASE_URL names)."""

from __future__ import annotations

import re
import threading

import orjson
import pytest
from django.conf import settings
from django.db import connection

from domain.audit import AuditContext, acting_as
from domain.errors import VersionConflict
from domain.service import PropertyChanges, PropertyService, Receipt
from domain.values import PropertyKind
from infrastructure.persistence import event_store_env
from tests.conftest import context_for, quay_street, rent


def register(service: PropertyService) -> Receipt:
    return service.register_property(
        name="Harbour View Flats", kind=PropertyKind.APARTMENT, address=quay_street(), rent=rent()
    )


def test_events_written_by_one_application_are_read_by_another(
    service: PropertyService, alice: AuditContext
) -> None:
    receipt = register(service)
    service.update_property(receipt.id, PropertyChanges(name="Harbour View"), 1)
    other = PropertyService(env=event_store_env(connection.settings_dict, settings.COSMO_AUDIT_KEY))
    try:
        prop = other.get_property(receipt.id)
    finally:
        other.close()
    assert (prop.name, prop.version, prop.rent) == ("Harbour View", 2, rent())


def test_a_cached_aggregate_catches_up_with_saves_made_by_another_process(
    service: PropertyService, alice: AuditContext
) -> None:
    assert service.repository.cache is not None, "the service caches aggregates (docs/adr/0041)"
    receipt = register(service)
    assert service.get_property(receipt.id).version == 1  # now in this process's cache
    other = PropertyService(env=event_store_env(connection.settings_dict, settings.COSMO_AUDIT_KEY))
    try:
        other.update_property(receipt.id, PropertyChanges(name="Harbour View"), 1)
    finally:
        other.close()
    prop = service.get_property(receipt.id)
    assert (prop.name, prop.version) == ("Harbour View", 2)
    with pytest.raises(VersionConflict):
        service.update_property(receipt.id, PropertyChanges(name="Quay House"), 1)
    assert service.update_property(receipt.id, PropertyChanges(name="Quay House"), 2).version == 3
    assert service.get_property(receipt.id).name == "Quay House"


def test_a_change_never_saved_does_not_reach_the_cached_aggregate(
    service: PropertyService, alice: AuditContext
) -> None:
    receipt = register(service)
    loaded = service.get_property(receipt.id)
    loaded.rename("Never Saved")
    prop = service.get_property(receipt.id)
    assert (prop.name, prop.version) == ("Harbour View Flats", 1)
    assert not prop.collect_events()


def test_stored_events_are_json_with_explicit_topics_and_the_actor(
    service: PropertyService, alice: AuditContext
) -> None:
    register(service)
    [notification] = service.recorder.select_notifications(start=1, limit=10)
    assert notification.topic == "cosmo.property.registered"
    state = orjson.loads(notification.state)
    assert state["name"] == "Harbour View Flats"
    audit = state["audit"]["_data_"]
    assert (audit["actor_id"], audit["organisation"], audit["role"]["_data_"]) == (
        "id-alice",
        "acme",
        "manager",
    )
    # Personal fields are sealed under the subject's key (docs/adr/0016); the rest stays in clear.
    assert audit["username"]["_type_"] == "sealed"
    assert audit["username"]["_data_"].startswith("id-alice::")  # subject:period:box, no period
    assert re.fullmatch(r"id-alice:\d{4}-\d\d-\d\d:[A-Za-z0-9+/]+=*", audit["client_ip"]["_data_"])
    assert b'"alice"' not in notification.state
    assert b"203.0.113.7" not in notification.state
    assert b"domain." not in notification.state, "no Python class path may be stored"


def test_global_positions_increase_in_commit_order(service: PropertyService, alice: AuditContext) -> None:
    receipts = [register(service) for _ in range(5)]
    positions = [r.position or 0 for r in receipts]
    assert positions == sorted(positions)
    assert len(set(positions)) == 5


@pytest.mark.parametrize("writers", [8])
def test_two_writers_of_the_same_version_never_both_win(service: PropertyService, writers: int) -> None:
    with acting_as(context_for("alice")):
        receipt = register(service)
    barrier = threading.Barrier(writers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        with acting_as(context_for(f"writer{n}")):
            barrier.wait()
            try:
                service.update_property(receipt.id, PropertyChanges(name=f"Name {n}"), 1)
                result = "won"
            except VersionConflict:
                result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * (writers - 1) + ["won"]
    with acting_as(context_for("alice")):
        prop = service.get_property(receipt.id)
    assert prop.version == 2
    assert len(list(service.events.get(receipt.id))) == 2
