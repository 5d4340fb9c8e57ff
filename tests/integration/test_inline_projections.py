"""A write's events in hand go straight into the read models that were right before them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from domain.audit import AuditContext
from domain.service import PropertyChanges, PropertyService, Receipt
from projections.inline import COMMIT_WITHOUT_FLUSH, apply_recorded
from projections.models import ProjectionState, ProjectionTracking, PropertyListing
from projections.projection import Projection
from projections.property_detail import PropertyDetailProjection
from projections.property_list import PropertyListProjection
from projections.runner import catch_up
from tests.integration.test_projections import RenameFails, register, tracking


def renamed_with_read_models_current(
    service: PropertyService,
) -> tuple[Receipt, list[Projection], Receipt]:
    """A registered property whose inline read models are caught up, then renamed: the write in hand."""
    first = register(service)
    projections: list[Projection] = [PropertyListProjection(), PropertyDetailProjection()]
    for projection in projections:
        catch_up(projection, service)
    return (
        first,
        projections,
        service.update_property(first.id, PropertyChanges(name="Renamed", rent=None), 1),
    )


def test_a_write_right_after_the_read_models_is_applied_from_the_events_in_hand(
    service: PropertyService, alice: AuditContext
) -> None:
    first, projections, receipt = renamed_with_read_models_current(service)
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


def test_a_registration_costs_the_claim_and_the_row_insert_and_nothing_else(
    service: PropertyService, alice: AuditContext
) -> None:
    """The common write's read-model transaction: no state/tracking reads, no load of a row that
    cannot exist yet, no separate position update (statement counts: docs/benchmarks.md)."""
    projections = [PropertyListProjection(), PropertyDetailProjection()]
    for projection in projections:
        catch_up(projection, service)
    receipt = register(service)

    with CaptureQueriesContext(connection) as queries:
        assert apply_recorded(projections, receipt.recorded) == []
    sent = [query["sql"] for query in queries.captured_queries]
    control = ("BEGIN", "BEGIN IMMEDIATE", "COMMIT")
    statements = [sql for sql in sent if sql not in control and not sql.startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 2, statements
    assert "WITH live" in statements[0]  # the claim
    assert 'INSERT INTO "projections_propertylisting"' in statements[1]
    if connection.vendor == "postgresql":
        # Two round trips: the transaction opens with the claim's query, and the row goes with the COMMIT.
        assert len(sent) == 2, sent
        assert sent[0].startswith("BEGIN; ")
        assert sent[1].startswith('INSERT INTO "projections_propertylisting"')
        assert sent[1].endswith("; COMMIT")
    assert tracking("property_list").position == tracking("property_detail").position == 1
    assert PropertyListing.live().get(property_id=receipt.id).version == 1


def test_a_rename_costs_the_claim_the_row_s_load_and_its_update(
    service: PropertyService, alice: AuditContext
) -> None:
    """On PostgreSQL the update goes with the COMMIT: three round trips (ADR 0034)."""
    first, projections, receipt = renamed_with_read_models_current(service)

    with CaptureQueriesContext(connection) as queries:
        assert apply_recorded(projections, receipt.recorded) == []
    sent = [query["sql"] for query in queries.captured_queries]
    if connection.vendor == "postgresql":
        assert len(sent) == 3, sent
        assert "WITH live" in sent[0]
        assert sent[1].startswith("SELECT ")
        assert 'FROM "projections_propertylisting"' in sent[1]
        assert sent[2].startswith('UPDATE "projections_propertylisting"')
        assert sent[2].endswith("; COMMIT")
    listing = PropertyListing.live().get(property_id=first.id)
    assert (listing.name, listing.version, listing.rent_amount) == ("Renamed", 3, None)


def test_a_row_that_fails_with_the_commit_rolls_the_claim_back_too(
    service: PropertyService, alice: AuditContext
) -> None:
    """A held row's statement that fails skips the COMMIT sent with it: neither row nor position stays."""
    projections = [PropertyListProjection(), PropertyDetailProjection()]
    for projection in projections:
        catch_up(projection, service)
    receipt = register(service)
    now = timezone.now()
    PropertyListing.objects.create(
        property_id=receipt.id,
        generation=tracking().generation,
        organisation="acme",
        version=1,
        name="Taken",
        kind="house",
        status="active",
        street="",
        city="",
        postal_code="",
        country="PT",
        created_at=now,
        updated_at=now,
    )

    with pytest.raises(IntegrityError):
        apply_recorded(projections, receipt.recorded)
    assert tracking("property_list").position == tracking("property_detail").position == 0
    assert PropertyListing.live().get(property_id=receipt.id).name == "Taken"
    assert connection.get_autocommit()


def test_without_waiting_for_the_flush_postgresql_is_told_so_and_the_same_rows_commit(
    service: PropertyService, alice: AuditContext
) -> None:
    first, projections, receipt = renamed_with_read_models_current(service)

    with CaptureQueriesContext(connection) as queries:
        assert apply_recorded(projections, receipt.recorded, wait_for_flush=False) == []
    told = [query["sql"] for query in queries.captured_queries if COMMIT_WITHOUT_FLUSH in query["sql"]]
    assert len(told) == (1 if connection.vendor == "postgresql" else 0), told
    assert tracking("property_list").position == tracking("property_detail").position == 3
    listing = PropertyListing.live().get(property_id=first.id)
    assert (listing.name, listing.version, listing.rent_amount) == ("Renamed", 3, None)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("on",), "off for that transaction only"


def test_only_the_read_models_right_before_the_write_are_claimed(
    service: PropertyService, alice: AuditContext
) -> None:
    catch_up(PropertyDetailProjection(), service)
    register(service, "Someone else's")
    catch_up(PropertyListProjection(), service)  # the gallery's read model stays at 0
    mine = register(service, "Mine")

    left = apply_recorded([PropertyListProjection(), PropertyDetailProjection()], mine.recorded)
    assert [p.name for p in left] == ["property_detail"]
    assert tracking("property_list").position == 2
    assert tracking("property_detail").position == 0
    assert PropertyListing.live().filter(property_id=mine.id).exists()


def test_a_claim_waits_for_a_rebuild_swap_and_goes_to_the_generation_it_swapped_in(
    service: PropertyService, alice: AuditContext
) -> None:
    first = register(service)
    catch_up(PropertyListProjection(), service)
    # A rebuilt generation 2 that has seen as much as the live one, about to be swapped in.
    ProjectionTracking.objects.create(name="property_list", generation=2, position=1)
    PropertyListing.objects.create(
        **{
            **{
                f.attname: getattr(PropertyListing.live().get(), f.attname)
                for f in PropertyListing._meta.concrete_fields
            },
            "id": None,
            "generation": 2,
        }
    )
    receipt = service.update_property(first.id, PropertyChanges(name="Renamed"), 1)
    locked, release = threading.Event(), threading.Event()

    def swap() -> None:
        with transaction.atomic():
            state = ProjectionState.objects.select_for_update().get(name="property_list")
            locked.set()
            release.wait(10)
            state.generation = 2
            state.save(update_fields=["generation"])

    waited, left = _apply_while_held(swap, locked, release, receipt)
    assert waited, "the claim waits for the swap's lock on the state row"
    assert left == []
    live = PropertyListing.live().get(property_id=first.id)
    assert (live.generation, live.name, live.version) == (2, "Renamed", 2)
    assert ProjectionTracking.objects.get(name="property_list", generation=2).position == 2
    assert ProjectionTracking.objects.get(name="property_list", generation=1).position == 1


def test_a_claim_that_waited_for_the_previous_write_s_read_models_applies_its_own_in_hand(
    service: PropertyService, alice: AuditContext
) -> None:
    """Two writers finishing together: the second's claim waits on the state row for the first's
    read-model transaction, and then claims after it instead of leaving its events to the catch-up."""
    first = register(service)
    catch_up(PropertyListProjection(), service)
    earlier = service.update_property(first.id, PropertyChanges(name="Earlier"), 1)
    later = service.update_property(first.id, PropertyChanges(name="Later"), 2)
    claimed, release = threading.Event(), threading.Event()

    class HeldOpen(PropertyListProjection):
        def finish_batch(self) -> None:
            super().finish_batch()
            claimed.set()
            release.wait(10)

    def earlier_write() -> None:
        assert apply_recorded([HeldOpen()], earlier.recorded) == []

    waited, left = _apply_while_held(earlier_write, claimed, release, later)
    if connection.vendor == "postgresql":
        assert waited, "the later claim waits for the earlier transaction's state row"
    assert left == [], "applied in hand, not left to the catch-up"
    assert tracking().position == 3
    assert PropertyListing.live().get(property_id=first.id).name == "Later"


def _apply_while_held(
    hold: Callable[[], None], held: threading.Event, release: threading.Event, receipt: Receipt
) -> tuple[bool, list[str]]:
    """Run ``hold`` on a thread until it sets ``held``, then apply ``receipt``'s events in hand to
    the list on another. Returns whether that write was still waiting 0.3 s later (before
    ``release`` is set), and the names of the projections it left to the catch-up."""
    left: list[str] = []

    def write() -> None:
        left.extend(p.name for p in apply_recorded([PropertyListProjection()], receipt.recorded))

    holder, writer = threading.Thread(target=_closing(hold)), threading.Thread(target=_closing(write))
    holder.start()
    assert held.wait(10)
    writer.start()
    time.sleep(0.3)
    waited = writer.is_alive()
    release.set()
    holder.join(10)
    writer.join(10)
    return waited, left


def _closing(work: Callable[[], None]) -> Callable[[], None]:
    """``work`` on a thread of its own, closing the database connection Django opened for it."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    return run
