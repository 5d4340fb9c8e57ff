"""For random histories, the incrementally maintained read models equal a full rebuild, row by row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.audit import acting_as
from domain.errors import DomainError
from domain.image import ImageFile
from domain.service import PropertyChanges, PropertyService
from domain.values import PropertyKind, Rent
from projections.inline import apply_recorded
from projections.models import ProjectionState, ProjectionTracking
from projections.registry import all_projections, inline_projections
from projections.runner import catch_up, rebuild_together
from tests.conftest import context_for, quay_street, wipe_event_store
from tests.fixtures.image_outcomes import record_failed, record_processed

ORGANISATIONS = ["acme", "globex", "initech"]
PHOTO = ImageFile(sha256="ab" * 32, bytes=90_000, width=640, height=480, format="jpeg", filename="a.jpg")

CATCH_UP = st.tuples(st.just("catch_up"), st.integers(1, 7), st.just(None))
PROPERTY_CHANGES = [
    st.tuples(st.just("register"), st.sampled_from(ORGANISATIONS), st.sampled_from(list(PropertyKind))),
    st.tuples(st.just("rename"), st.integers(0, 20), st.text(min_size=1, max_size=30)),
    st.tuples(st.just("move"), st.integers(0, 20), st.sampled_from(["Lisbon", "Porto", "Faro"])),
    st.tuples(st.just("rent"), st.integers(0, 20), st.none() | st.integers(0, 500_000)),
    st.tuples(st.just("archive"), st.integers(0, 20), st.text(max_size=10)),
]
GALLERY_CHANGES = [
    st.tuples(st.just("photo"), st.integers(0, 20), st.sampled_from(["", "front", "kitchen"])),
    st.tuples(st.just("caption"), st.integers(0, 20), st.text(max_size=10)),
    st.tuples(st.sampled_from(["cover", "reorder"]), st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.sampled_from(["process", "fail", "retry", "remove"]), st.integers(0, 20), st.just(None)),
]
histories = st.lists(st.one_of(*PROPERTY_CHANGES, *GALLERY_CHANGES, CATCH_UP), min_size=1, max_size=40)
# Photos of a few properties only: richer galleries than the mixed histories reach in few examples.
gallery_histories = st.lists(st.one_of(*GALLERY_CHANGES, CATCH_UP), min_size=5, max_size=40)


def reset_read_models() -> None:
    wipe_event_store()
    for projection in all_projections():
        for model in projection.models:
            model._default_manager.all().delete()
    ProjectionTracking.objects.all().delete()
    ProjectionState.objects.all().delete()


def rent_changes(value: int | None) -> PropertyChanges:
    return PropertyChanges(rent=None if value is None else Rent(Decimal(value).scaleb(-2), "EUR"))


def set_cover(service: PropertyService, property_id: Any, index: int) -> None:
    image_ids = service.get_property(property_id).image_ids
    if image_ids:
        service.set_cover_image(property_id, image_ids[index % len(image_ids)])


def rotate_images(service: PropertyService, property_id: Any, turn: int) -> None:
    image_ids = service.get_property(property_id).image_ids
    if image_ids:
        turn %= len(image_ids)
        service.reorder_images(property_id, image_ids[turn:] + image_ids[:turn])


Command = Callable[[PropertyService, Any, Any], Any]

# Each command acts on a property (the first table) or on an image (the second) picked by index.
PROPERTY_COMMANDS: dict[str, Command] = {
    "rename": lambda service, id_, value: service.update_property(id_, PropertyChanges(name=value), None),
    "move": lambda service, id_, value: service.update_property(
        id_, PropertyChanges(address=replace(quay_street(), city=value)), None
    ),
    "rent": lambda service, id_, value: service.update_property(id_, rent_changes(value), None),
    "archive": lambda service, id_, value: service.archive_property(id_, None, value),
    "photo": lambda service, id_, value: service.add_image(id_, PHOTO, value),
    "cover": set_cover,
    "reorder": rotate_images,
}
IMAGE_COMMANDS: dict[str, Command] = {
    "caption": lambda service, id_, value: service.change_image_caption(id_, value),
    "retry": lambda service, id_, _: service.retry_image(id_),
    "remove": lambda service, id_, _: service.remove_image(id_),
    # As the image policy records them: a system actor, its tracking saved with the outcome.
    "process": lambda service, id_, _: record_processed(service, id_),
    "fail": lambda service, id_, _: record_failed(service, id_),
}


def run(service: PropertyService, history: list[tuple[str, Any, Any]], in_hand: bool = False) -> None:
    """Run the commands; ``in_hand`` applies each one's recorded events as a write answering
    over HTTP does (``projections.inline``), the catch-up steps reading the rest from the store."""
    properties: list[tuple[str, Any]] = []
    images: list[tuple[str, Any]] = []
    for action, first, second in history:
        if action == "catch_up":
            for projection in all_projections():
                catch_up(projection, service, batch_size=first)
            continue
        if action == "register":
            with acting_as(context_for("writer", str(first))):
                receipt = service.register_property(name="New", kind=second, address=quay_street())
            properties.append((str(first), receipt.id))
            if in_hand:
                apply_recorded(inline_projections(), receipt.recorded)
            continue
        targets = images if action in IMAGE_COMMANDS else properties
        if not targets:
            continue
        organisation, target = targets[first % len(targets)]
        command = IMAGE_COMMANDS.get(action) or PROPERTY_COMMANDS[action]
        with acting_as(context_for("writer", organisation)):
            try:
                receipt = command(service, target, second)
            except DomainError:
                continue  # refused commands (archived, blank names, removed images) are part of histories too
        if in_hand and receipt is not None:
            apply_recorded(inline_projections(), receipt.recorded)
        if action == "photo":
            images.append((organisation, receipt.id))


def assert_incremental_equals_rebuild(service: PropertyService, fork: bool = False) -> None:
    for projection in all_projections():
        catch_up(projection, service, batch_size=3)
    for report in rebuild_together(all_projections(), service, check=True, batch_size=5, fork=fork):
        assert report.drift == [], (report.name, report.drift)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories, in_hand=st.booleans(), fork=st.booleans())
def test_incremental_read_models_equal_a_full_rebuild(
    service: PropertyService, history: list[tuple[str, Any, Any]], in_hand: bool, fork: bool
) -> None:
    reset_read_models()
    run(service, history, in_hand)
    assert_incremental_equals_rebuild(service, fork)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=gallery_histories, in_hand=st.booleans(), fork=st.booleans())
def test_incremental_galleries_equal_a_full_rebuild(
    service: PropertyService, history: list[tuple[str, Any, Any]], in_hand: bool, fork: bool
) -> None:
    reset_read_models()
    registrations = [("register", organisation, PropertyKind.HOUSE) for organisation in ORGANISATIONS[:2]]
    run(service, [*registrations, *history], in_hand)
    assert_incremental_equals_rebuild(service, fork)
