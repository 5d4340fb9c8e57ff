"""Projections on a real database: catch-up, failures, concurrency, rebuild, check, status."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from domain.audit import AuditContext
from domain.property import Property
from domain.service import PropertyChanges, PropertyService, Receipt
from domain.values import PropertyKind
from projections import runner
from projections.audit_timeline import AuditTimelineProjection
from projections.models import (
    AuditTimelineEntry,
    OrganisationDashboard,
    ProjectionState,
    ProjectionTracking,
    PropertyListing,
)
from projections.organisation_dashboard import OrganisationDashboardProjection
from projections.projection import Handler
from projections.property_list import PropertyListProjection
from projections.registry import all_projections
from projections.runner import ProjectionStalled, catch_up, rebuild, rebuild_together, status
from tests.conftest import quay_street, rent
from tests.fixtures.image_outcomes import file_of
from tests.fixtures.tiny_png import tiny_png


def register(service: PropertyService, name: str = "Harbour View Flats") -> Receipt:
    return service.register_property(name=name, kind=PropertyKind.HOUSE, address=quay_street(), rent=rent())


def tracking(name: str = "property_list") -> ProjectionTracking:
    state = ProjectionState.objects.get(name=name)
    return ProjectionTracking.objects.get(name=name, generation=state.generation)


class RenameFails(PropertyListProjection):
    """The real projection, with the rename handler broken (a bug shipped in a release, say)."""

    def handlers(self) -> dict[str, Handler]:
        def broken(event: Any) -> None:
            raise RuntimeError("disk on fire")

        return {**super().handlers(), "cosmo.property.renamed": broken}


def test_listing_follows_every_event(service: PropertyService, alice: AuditContext) -> None:
    receipt = register(service)
    service.update_property(receipt.id, PropertyChanges(name="Harbour View", rent=None), 1)
    service.archive_property(receipt.id, 3)
    assert catch_up(PropertyListProjection(), service) == 4
    listing = PropertyListing.live().get(property_id=receipt.id)
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


def test_every_event_of_a_property_has_a_listing_handler() -> None:
    """A topic without a handler would leave the listing's version, and so the ETag, stale."""
    topics = {
        event.TOPIC
        for event in vars(Property).values()
        if isinstance(event, type) and issubclass(event, Property.Event)
    } - {Property.Event.TOPIC, Property.Created.TOPIC}
    assert topics == set(PropertyListProjection().handlers())


def test_gallery_events_move_the_listings_version_and_time(
    service: PropertyService, alice: AuditContext
) -> None:
    receipt = register(service)
    first = service.add_image(receipt.id, file_of(tiny_png())).id
    second = service.add_image(receipt.id, file_of(tiny_png((200, 40, 40)))).id
    service.set_cover_image(receipt.id, second)
    service.reorder_images(receipt.id, [second, first])
    service.remove_image(first)
    catch_up(PropertyListProjection(), service)
    listing = PropertyListing.live().get(property_id=receipt.id)
    prop = service.get_property(receipt.id)
    assert (listing.version, listing.updated_at) == (prop.version, prop.modified_on)
    assert prop.version == 6, "registered, attached twice, cover set, reordered, detached"


def test_catching_up_twice_applies_nothing_twice(service: PropertyService, alice: AuditContext) -> None:
    register(service)
    register(service, "Second")
    assert catch_up(PropertyListProjection(), service) == 2
    assert catch_up(PropertyListProjection(), service) == 0
    assert PropertyListing.live().count() == 2
    assert tracking().position == service.recorder.max_notification_id()


def test_a_failing_handler_stops_the_projection_at_that_event(
    service: PropertyService, alice: AuditContext
) -> None:
    first = register(service)
    service.update_property(first.id, PropertyChanges(name="Renamed"), 1)
    second = register(service, "After the failure")
    with pytest.raises(ProjectionStalled) as stalled:
        catch_up(RenameFails(), service)
    assert stalled.value.position == 2
    assert tracking().position == 1, "the event before the failure is applied, the failing one is not"
    assert "disk on fire" in tracking().last_error
    assert PropertyListing.live().get(property_id=first.id).name == "Harbour View Flats"
    assert not PropertyListing.live().filter(property_id=second.id).exists(), "nothing after it is applied"
    assert status(RenameFails(), service).state == "stalled"

    assert catch_up(PropertyListProjection(), service) == 2, "the fixed release resumes where it stopped"
    assert PropertyListing.live().get(property_id=first.id).name == "Renamed"
    assert tracking().last_error == ""


def test_a_stalled_projection_does_not_hold_up_the_others(
    service: PropertyService, alice: AuditContext
) -> None:
    receipt = register(service)
    service.update_property(receipt.id, PropertyChanges(name="Renamed"), 1)
    with pytest.raises(ProjectionStalled):
        catch_up(RenameFails(), service)
    assert catch_up(AuditTimelineProjection(), service) == 2
    assert AuditTimelineEntry.live().count() == 2


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
    assert PropertyListing.live().count() == 60
    assert tracking().position == 60


def test_dashboard_counts_and_timeline_rows(service: PropertyService, alice: AuditContext) -> None:
    kept = register(service, "Kept")
    sold = register(service, "Sold")
    service.archive_property(sold.id, 1, "sold")
    service.update_property(kept.id, PropertyChanges(rent=None), 1)
    for projection in all_projections():
        catch_up(projection, service)
    dashboard = OrganisationDashboard.live().get(organisation="acme")
    assert (dashboard.active_properties, dashboard.archived_properties) == (1, 1)
    timeline = list(AuditTimelineEntry.live().filter(property_id=sold.id).order_by("position"))
    assert [(e.event_type, e.summary, e.actor_username) for e in timeline] == [
        ("PropertyRegistered", "registered 'Sold' (house)", "alice"),
        ("PropertyArchived", "archived: sold", "alice"),
    ]
    assert AuditTimelineEntry.live().get(property_id=kept.id, version=2).summary == "rent removed"


def test_rebuild_swaps_in_an_identical_generation_while_the_old_one_keeps_serving(
    service: PropertyService, alice: AuditContext
) -> None:
    for n in range(25):
        receipt = register(service, f"Property {n}")
    service.archive_property(receipt.id, 1)
    for projection in all_projections():
        catch_up(projection, service)
    before = sorted(PropertyListing.live().values_list("property_id", "name", "version", "status"))
    seen_while_rebuilding: list[int] = []

    def progress(count: int, position: int) -> None:
        seen_while_rebuilding.append(PropertyListing.live().count())

    report = rebuild(PropertyListProjection(), service, batch_size=10, progress=progress)
    assert report.swapped
    assert report.generation == 2
    assert report.events == 26
    assert seen_while_rebuilding == [25, 25, 25], "readers saw the complete old generation throughout"
    assert sorted(PropertyListing.live().values_list("property_id", "name", "version", "status")) == before
    assert PropertyListing.objects.filter(generation=1).count() == 0, "the old generation is dropped"
    assert status(PropertyListProjection(), service).state == "live"


def test_rebuilding_every_projection_reads_and_decodes_each_event_once(
    service: PropertyService, alice: AuditContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(7):
        receipt = register(service, f"Property {n}")
    service.archive_property(receipt.id, 1)
    decoded: list[int] = []
    to_domain_event = service.mapper.to_domain_event

    def counting(stored: Any) -> Any:
        decoded.append(stored.id)
        return to_domain_event(stored)

    monkeypatch.setattr(service.mapper, "to_domain_event", counting)
    reports = rebuild_together(all_projections(), service, batch_size=3)
    assert sorted(decoded) == list(range(1, 9)), "one read and one decode per event, for all four"
    assert [(r.name, r.swapped, r.position) for r in reports] == [
        (p.name, True, 8) for p in all_projections()
    ]
    assert {r.name: r.events for r in reports}["audit_timeline"] == 8
    assert PropertyListing.live().count() == 7
    assert AuditTimelineEntry.live().count() == 8


def test_a_rebuild_reads_each_batch_from_a_range_no_longer_than_the_batch(
    service: PropertyService, alice: AuditContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short range keeps the read cheap whatever the planner knows; a range holding none of the
    projection's events (renames, for the dashboard) still moves the rebuild on."""
    for n in range(3):
        receipt = register(service, f"Property {n}")
        for m in range(4):
            service.update_property(receipt.id, PropertyChanges(name=f"Property {n}.{m}"), m + 1)
    service.archive_property(receipt.id, 5)
    for projection in all_projections():
        catch_up(projection, service)
    before = sorted(OrganisationDashboard.live().values_list("organisation", "active_properties"))
    ranges: list[tuple[int, int | None]] = []
    select = service.recorder.select_notifications

    def recording(start: int, limit: int, stop: int | None = None, **options: Any) -> Any:
        ranges.append((start, stop))
        return select(start, limit, stop, **options)

    monkeypatch.setattr(service.recorder, "select_notifications", recording)
    [report] = rebuild_together([OrganisationDashboardProjection()], service, batch_size=3)
    assert ranges == [(start, min(start + 3, 16)) for start in range(0, 16, 3)]
    assert (report.swapped, report.position, report.events) == (True, 16, 4)
    assert sorted(OrganisationDashboard.live().values_list("organisation", "active_properties")) == before


def live_rows() -> dict[str, list[tuple[Any, ...]]]:
    """Every live row of every projection, without its generation and surrogate key."""
    rows = {}
    for projection in all_projections():
        for model in projection.models:
            columns = [f.name for f in model._meta.concrete_fields if f.name not in ("id", "generation")]
            rows[model._meta.db_table] = sorted(model.live().values_list(*columns), key=repr)
    return rows


def test_a_rebuild_with_a_forked_applier_writes_what_one_process_writes(
    service: PropertyService, alice: AuditContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(6):
        receipt = register(service, f"Property {n}")
        service.update_property(receipt.id, PropertyChanges(name=f"Property {n}.1"), 1)
    service.archive_property(receipt.id, 2)
    rebuild_together(all_projections(), service, batch_size=4)
    alone = live_rows()
    forks: list[list[str]] = []

    class Counted(runner._Applier):
        def __init__(self, projections: Any, *args: Any) -> None:
            forks.append([p.name for p in projections])
            super().__init__(projections, *args)

    monkeypatch.setattr(runner, "_Applier", Counted)
    reports = rebuild_together(all_projections(), service, batch_size=4, fork=True)
    assert forks == [["property_detail", "organisation_dashboard", "audit_timeline"]] * 4
    assert [(r.swapped, r.generation, r.position) for r in reports] == [(True, 3, 13)] * 4
    assert {r.name: r.events for r in reports}["audit_timeline"] == 13
    assert live_rows() == alone
    assert not ProjectionTracking.objects.exclude(generation=3).exists()
    [report] = rebuild_together([PropertyListProjection()], service, batch_size=4, fork=True)
    assert forks[-1] == ["property_list"], "a projection alone is applied by the forked process"
    assert (report.swapped, report.position) == (True, 13)
    assert live_rows() == alone


def test_a_rebuild_runs_its_handlers_before_its_write_transaction_and_writes_inside_it(
    service: PropertyService, alice: AuditContext
) -> None:
    """On SQLite a transaction holds the one write lock from BEGIN: a rebuild takes it only to
    write a batch's rows and positions, not while its handlers work them out (docs/adr/0042)."""
    seen: dict[str, list[bool]] = {"handler": [], "finish_batch": []}

    class Watched(PropertyListProjection):
        def handlers(self) -> dict[str, Handler]:
            def watched(handler: Handler) -> Handler:
                def run(event: Any) -> None:
                    seen["handler"].append(connection.in_atomic_block)
                    handler(event)

                return run

            return {topic: watched(handler) for topic, handler in super().handlers().items()}

        def finish_batch(self) -> None:
            seen["finish_batch"].append(connection.in_atomic_block)
            super().finish_batch()

    for n in range(3):
        receipt = register(service, f"Property {n}")
    service.update_property(receipt.id, PropertyChanges(name="Renamed"), 1)
    catch_up(PropertyListProjection(), service)
    expected = sorted(PropertyListing.live().values_list("property_id", "name"))
    report = rebuild(Watched(), service, batch_size=2)
    assert (report.swapped, report.events) == (True, 4)
    assert seen["handler"] == [False] * 4
    assert set(seen["finish_batch"]) == {True}
    assert sorted(PropertyListing.live().values_list("property_id", "name")) == expected


def test_a_handler_failing_in_the_forked_applier_leaves_every_live_model_untouched(
    service: PropertyService, alice: AuditContext
) -> None:
    for n in range(4):
        receipt = register(service, f"Property {n}")
    service.update_property(receipt.id, PropertyChanges(name="Renamed"), 1)
    for projection in all_projections():
        catch_up(projection, service)
    with pytest.raises(ProjectionStalled) as stalled:
        rebuild_together([AuditTimelineProjection(), RenameFails()], service, batch_size=2, fork=True)
    assert (stalled.value.name, stalled.value.position) == ("property_list", 5)
    assert set(ProjectionState.objects.values_list("generation", flat=True)) == {1}
    assert not AuditTimelineEntry.objects.exclude(generation=1).exists()
    assert not PropertyListing.objects.exclude(generation=1).exists()
    assert not ProjectionTracking.objects.exclude(generation=1).exists()
    assert PropertyListing.live().get(property_id=receipt.id).name == "Renamed"


def test_a_failing_projection_in_a_rebuild_together_leaves_every_live_model_untouched(
    service: PropertyService, alice: AuditContext
) -> None:
    receipt = register(service)
    service.update_property(receipt.id, PropertyChanges(name="Renamed"), 1)
    for projection in all_projections():
        catch_up(projection, service)
    with pytest.raises(ProjectionStalled):
        rebuild_together([AuditTimelineProjection(), RenameFails()], service)
    assert set(ProjectionState.objects.values_list("generation", flat=True)) == {1}
    assert not AuditTimelineEntry.objects.exclude(generation=1).exists()
    assert not ProjectionTracking.objects.exclude(generation=1).exists()


def test_a_failing_rebuild_leaves_the_live_model_untouched(
    service: PropertyService, alice: AuditContext
) -> None:
    receipt = register(service)
    service.update_property(receipt.id, PropertyChanges(name="Renamed"), 1)
    catch_up(PropertyListProjection(), service)
    with pytest.raises(ProjectionStalled):
        rebuild(RenameFails(), service)
    assert ProjectionState.objects.get(name="property_list").generation == 1
    assert PropertyListing.live().get(property_id=receipt.id).name == "Renamed"
    assert not PropertyListing.objects.exclude(generation=1).exists()
    assert not ProjectionTracking.objects.filter(name="property_list").exclude(generation=1).exists()


def test_check_reports_no_drift_then_finds_a_row_edited_behind_its_back(
    service: PropertyService, alice: AuditContext
) -> None:
    for n in range(5):
        register(service, f"Property {n}")
    catch_up(OrganisationDashboardProjection(), service)
    catch_up(PropertyListProjection(), service)
    clean = rebuild(PropertyListProjection(), service, check=True)
    assert (clean.swapped, clean.drift) == (False, [])
    PropertyListing.live().filter(name="Property 3").update(name="Edited by hand")
    report = rebuild(PropertyListProjection(), service, check=True)
    [drift] = report.drift
    assert (drift.only_live, drift.only_rebuilt) == (1, 1)
    assert any("Edited by hand" in row for side, row in drift.examples if side == "live")
    assert ProjectionState.objects.get(name="property_list").generation == 1, "check never swaps"
    assert PropertyListing.objects.exclude(generation=1).count() == 0


def test_status_reports_position_head_and_lag(service: PropertyService, alice: AuditContext) -> None:
    register(service)
    catch_up(PropertyListProjection(), service)
    register(service, "Not yet projected")
    current = status(PropertyListProjection(), service)
    assert (current.position, current.head, current.lag_events, current.state) == (1, 2, 1, "catching up")
    assert current.lag_seconds >= 0
