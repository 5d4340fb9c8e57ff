"""A write's events in hand go straight into the read models that were right before them."""

from __future__ import annotations

from domain.audit import AuditContext
from domain.service import PropertyChanges, PropertyService
from projections.inline import apply_recorded
from projections.models import PropertyListing
from projections.property_detail import PropertyDetailProjection
from projections.property_list import PropertyListProjection
from projections.runner import catch_up
from tests.integration.test_projections import RenameFails, register, tracking


def test_a_write_right_after_the_read_models_is_applied_from_the_events_in_hand(
    service: PropertyService, alice: AuditContext
) -> None:
    first = register(service)
    projections = [PropertyListProjection(), PropertyDetailProjection()]
    for projection in projections:
        catch_up(projection, service)
    receipt = service.update_property(first.id, PropertyChanges(name="Renamed", rent=None), 1)
    assert [position for position, _ in receipt.recorded] == [2, 3]

    assert apply_recorded(projections, receipt.recorded) == []
    assert tracking("property_list").position == tracking("property_detail").position == 3
    listing = PropertyListing.live().get(property_id=first.id)
    assert (listing.name, listing.version, listing.rent_amount) == ("Renamed", 3, None)
    assert catch_up(PropertyListProjection(), service) == 0, "nothing is left to read back"


def test_a_read_model_behind_other_writes_is_left_to_the_catch_up(
    service: PropertyService, alice: AuditContext
) -> None:
    catch_up(PropertyListProjection(), service)
    register(service, "Someone else's")
    mine = register(service, "Mine")

    assert [p.name for p in apply_recorded([PropertyListProjection()], mine.recorded)] == ["property_list"]
    assert tracking().position == 0
    assert not PropertyListing.live().exists(), "nothing applied out of order"
    assert catch_up(PropertyListProjection(), service) == 2


def test_events_already_applied_are_not_applied_twice(service: PropertyService, alice: AuditContext) -> None:
    receipt = register(service)
    catch_up(PropertyListProjection(), service)

    assert apply_recorded([PropertyListProjection()], receipt.recorded) == []
    assert PropertyListing.live().count() == 1
    assert tracking().position == 1


def test_a_failing_handler_stalls_the_projection_at_that_event_as_a_catch_up_would(
    service: PropertyService, alice: AuditContext
) -> None:
    first = register(service)
    catch_up(PropertyListProjection(), service)
    receipt = service.update_property(first.id, PropertyChanges(name="Renamed", rent=None), 1)

    assert apply_recorded([RenameFails()], receipt.recorded) == []
    assert tracking().position == 1, "the rename (position 2) failed: nothing from it on is applied"
    assert "disk on fire" in tracking().last_error
    assert PropertyListing.live().get(property_id=first.id).name == "Harbour View Flats"
    left = apply_recorded([PropertyListProjection()], receipt.recorded)
    assert [p.name for p in left] == ["property_list"], "a stalled read model is left to the catch-up"
    assert catch_up(PropertyListProjection(), service) == 2, "the fixed release resumes where it stopped"
