"""The property_list read model, caught up from real events on a real database."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from domain.audit import AuditContext
from domain.service import PropertyChanges, PropertyService
from domain.values import PropertyKind
from projections.models import ProjectionPosition, PropertyListing
from projections.property_list import PropertyListProjection
from projections.runner import ProjectionStalled, catch_up
from tests.conftest import quay_street, rent


def register(service: PropertyService, name: str = "Harbour View Flats") -> Any:
    return service.register_property(name=name, kind=PropertyKind.HOUSE, address=quay_street(), rent=rent())


def test_listing_follows_every_event(service: PropertyService, alice: AuditContext) -> None:
    receipt = register(service)
    service.update_property(receipt.id, PropertyChanges(name="Harbour View", rent=None), 1)
    service.archive_property(receipt.id, 3)
    assert catch_up(PropertyListProjection(), service) == 4
    listing = PropertyListing.objects.get(id=receipt.id)
    assert (listing.name, listing.version, listing.status, listing.rent_amount, listing.rent_currency) == (
        "Harbour View",
        4,
        "archived",
        None,
        "",
    )
    prop = service.get_property(receipt.id)
    assert listing.created_at == prop.created_on
    assert listing.updated_at == prop.modified_on


def test_catching_up_twice_applies_nothing_twice(service: PropertyService, alice: AuditContext) -> None:
    register(service)
    register(service, "Second")
    projection = PropertyListProjection()
    assert catch_up(projection, service) == 2
    assert catch_up(projection, service) == 0
    assert PropertyListing.objects.count() == 2
    assert (
        ProjectionPosition.objects.get(name="property_list").position
        == service.recorder.max_notification_id()
    )


class RenameFailsOnce(PropertyListProjection):
    """The real projection, with the rename handler broken until ``repaired`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.repaired = False
        real_rename = self.handlers["cosmo.property.renamed"]

        def rename(event: Any) -> None:
            if not self.repaired:
                raise RuntimeError("disk on fire")
            real_rename(event)

        self.handlers["cosmo.property.renamed"] = rename


def test_a_failing_handler_stops_the_projection_at_that_event(
    service: PropertyService, alice: AuditContext
) -> None:
    first = register(service)
    service.update_property(first.id, PropertyChanges(name="Renamed"), 1)
    second = register(service, "After the failure")
    projection = RenameFailsOnce()
    with pytest.raises(ProjectionStalled) as stalled:
        catch_up(projection, service, batch_size=1)
    assert stalled.value.position == 2
    tracking = ProjectionPosition.objects.get(name="property_list")
    assert tracking.position == 1
    assert "disk on fire" in tracking.last_error
    assert not PropertyListing.objects.filter(id=second.id).exists(), "nothing after the failure is applied"

    projection.repaired = True
    assert catch_up(projection, service) == 2
    assert PropertyListing.objects.get(id=first.id).name == "Renamed"
    assert PropertyListing.objects.filter(id=second.id).exists()
    assert ProjectionPosition.objects.get(name="property_list").last_error == ""


def test_concurrent_catch_ups_apply_each_event_exactly_once(
    service: PropertyService, alice: AuditContext
) -> None:
    for n in range(60):
        register(service, f"Property {n}")
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            barrier.wait()
            catch_up(PropertyListProjection(), service, batch_size=7)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert PropertyListing.objects.count() == 60
    assert ProjectionPosition.objects.get(name="property_list").position == 60
