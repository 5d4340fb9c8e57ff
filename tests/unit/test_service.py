"""The application service on the in-memory recorder: commands, receipts, rules, time travel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain import service as service_module
from domain.audit import AuditContext, Role, acting_as
from domain.errors import NotPermitted, PropertyArchived, PropertyNotFound, VersionConflict
from domain.service import PropertyChanges, PropertyService, Receipt
from domain.values import PropertyKind
from tests.conftest import context_for, quay_street, rent


def register(service: PropertyService) -> Receipt:
    return service.register_property(
        name="Harbour View Flats", kind=PropertyKind.APARTMENT, address=quay_street(), rent=rent()
    )


def test_register_returns_id_version_and_position(
    memory_service: PropertyService, alice: AuditContext
) -> None:
    receipt = register(memory_service)
    assert receipt.version == 1
    assert receipt.position == 1
    assert memory_service.get_property(receipt.id).organisation == "acme"


def test_update_records_one_event_per_changed_field_in_one_save(
    memory_service: PropertyService, alice: AuditContext
) -> None:
    receipt = register(memory_service)
    changed = memory_service.update_property(
        receipt.id, PropertyChanges(name="Harbour View", address=quay_street(), rent=None), 1
    )
    assert changed.version == 3, "name and rent changed; the address was the same"
    assert changed.position == 3
    names = [type(e).__name__ for e in memory_service.events.get(receipt.id)]
    assert names == ["PropertyRegistered", "PropertyRenamed", "RentChanged"]


def test_update_that_changes_nothing_records_nothing(
    memory_service: PropertyService, alice: AuditContext
) -> None:
    receipt = register(memory_service)
    unchanged = memory_service.update_property(receipt.id, PropertyChanges(name="Harbour View Flats"), 1)
    assert unchanged.version == 1
    assert unchanged.position is None
    assert memory_service.recorder.max_notification_id() == 1


def test_stale_expected_version_is_refused_and_records_nothing(
    memory_service: PropertyService, alice: AuditContext
) -> None:
    receipt = register(memory_service)
    memory_service.update_property(receipt.id, PropertyChanges(name="Harbour View"), 1)
    with pytest.raises(VersionConflict):
        memory_service.update_property(receipt.id, PropertyChanges(name="Something else"), 1)
    assert memory_service.get_property(receipt.id).name == "Harbour View"
    assert memory_service.recorder.max_notification_id() == 2


def test_archived_property_refuses_updates(memory_service: PropertyService, alice: AuditContext) -> None:
    receipt = register(memory_service)
    memory_service.archive_property(receipt.id, 1, "sold")
    with pytest.raises(PropertyArchived):
        memory_service.update_property(receipt.id, PropertyChanges(name="New"), None)


def test_another_organisation_cannot_see_or_change_a_property(memory_service: PropertyService) -> None:
    with acting_as(context_for("alice")):
        receipt = register(memory_service)
    with acting_as(context_for("mallory", organisation="globex")):
        with pytest.raises(PropertyNotFound):
            memory_service.get_property(receipt.id)
        with pytest.raises(PropertyNotFound):
            memory_service.update_property(receipt.id, PropertyChanges(name="Mine now"), None)
    assert memory_service.recorder.max_notification_id() == 1


def test_auditor_reads_every_organisation_and_changes_nothing(memory_service: PropertyService) -> None:
    with acting_as(context_for("alice")):
        receipt = register(memory_service)
    with acting_as(context_for("ann", organisation="audit-firm", role=Role.AUDITOR)):
        assert memory_service.get_property(receipt.id).name == "Harbour View Flats"
        with pytest.raises(NotPermitted):
            memory_service.archive_property(receipt.id, None)
        with pytest.raises(NotPermitted):
            register(memory_service)


def test_unknown_property_is_not_found(memory_service: PropertyService, alice: AuditContext) -> None:
    from uuid import uuid4

    with pytest.raises(PropertyNotFound):
        memory_service.get_property(uuid4())


def test_state_at_a_version_and_as_of_a_time(memory_service: PropertyService, alice: AuditContext) -> None:
    receipt = register(memory_service)
    memory_service.update_property(receipt.id, PropertyChanges(name="Harbour View"), 1)
    events: list[Any] = list(memory_service.events.get(receipt.id))
    assert memory_service.get_property(receipt.id, version=1).name == "Harbour View Flats"
    assert memory_service.get_property_as_of(receipt.id, events[0].timestamp).name == "Harbour View Flats"
    assert memory_service.get_property_as_of(receipt.id, events[1].timestamp).name == "Harbour View"
    with pytest.raises(PropertyNotFound):
        memory_service.get_property_as_of(receipt.id, events[0].timestamp - timedelta(seconds=1))
    with pytest.raises(PropertyNotFound):
        memory_service.get_property(receipt.id, version=3)


@pytest.fixture
def interfering(memory_service: PropertyService, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Someone else renames the property between each load and save, ``times[0]`` times."""
    times = [1]
    load = PropertyService.get_property
    monkeypatch.setattr(service_module, "BACKOFF_SECONDS", 0.0)

    rival: list[bool] = []

    def load_then_interfere(self: PropertyService, property_id: Any, version: int | None = None) -> Any:
        prop = load(self, property_id, version)
        if version is None and times[0] > 0 and not rival:
            times[0] -= 1
            rival.append(True)
            memory_service.update_property(property_id, PropertyChanges(name=f"Rival {times[0]}"), None)
            rival.pop()
        return prop

    monkeypatch.setattr(PropertyService, "get_property", load_then_interfere)
    return times


def test_a_change_without_expected_version_is_run_again_on_the_winners_state(
    memory_service: PropertyService, alice: AuditContext, interfering: list[int]
) -> None:
    receipt = register(memory_service)
    interfering[0] = 1
    changed = memory_service.update_property(receipt.id, PropertyChanges(rent=rent("99")), None)
    assert changed.version == 3
    prop = memory_service.get_property(receipt.id)
    assert (prop.name, prop.rent) == ("Rival 0", rent("99"))


def test_a_change_with_an_expected_version_is_never_run_again(
    memory_service: PropertyService, alice: AuditContext, interfering: list[int]
) -> None:
    receipt = register(memory_service)
    interfering[0] = 1
    with pytest.raises(VersionConflict):
        memory_service.update_property(receipt.id, PropertyChanges(rent=rent("99")), 1)
    assert memory_service.get_property(receipt.id).rent == rent()


def test_reruns_are_bounded(
    memory_service: PropertyService, alice: AuditContext, interfering: list[int]
) -> None:
    receipt = register(memory_service)
    interfering[0] = 1_000
    with pytest.raises(VersionConflict):
        memory_service.update_property(receipt.id, PropertyChanges(rent=rent("99")), None)
    assert 1_000 - interfering[0] == service_module.MAX_ATTEMPTS
