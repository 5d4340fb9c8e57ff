"""For random histories, the incrementally maintained read models equal a full rebuild, row by row."""

from __future__ import annotations

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
from projections.models import ProjectionState, ProjectionTracking
from projections.registry import all_projections
from projections.runner import catch_up, rebuild
from tests.conftest import context_for, quay_street, wipe_event_store
from tests.fixtures.image_outcomes import record_failed, record_processed

ORGANISATIONS = ["acme", "globex", "initech"]
PHOTO = ImageFile(sha256="ab" * 32, bytes=90_000, width=640, height=480, format="jpeg", filename="a.jpg")

commands = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.sampled_from(ORGANISATIONS), st.sampled_from(list(PropertyKind))),
        st.tuples(st.just("rename"), st.integers(0, 20), st.text(min_size=1, max_size=30)),
        st.tuples(st.just("move"), st.integers(0, 20), st.sampled_from(["Lisbon", "Porto", "Faro"])),
        st.tuples(st.just("rent"), st.integers(0, 20), st.none() | st.integers(0, 500_000)),
        st.tuples(st.just("archive"), st.integers(0, 20), st.text(max_size=10)),
        st.tuples(st.just("catch_up"), st.integers(1, 7), st.just(None)),
        st.tuples(st.just("photo"), st.integers(0, 20), st.text(max_size=10)),
        st.tuples(st.just("caption"), st.integers(0, 20), st.text(max_size=10)),
        st.tuples(st.sampled_from(["process", "fail", "retry", "remove"]), st.integers(0, 20), st.just(None)),
        st.tuples(st.sampled_from(["cover", "reorder"]), st.integers(0, 20), st.integers(0, 20)),
    ),
    min_size=1,
    max_size=40,
)


def reset_read_models() -> None:
    wipe_event_store()
    for projection in all_projections():
        for model in projection.models:
            model._default_manager.all().delete()
    ProjectionTracking.objects.all().delete()
    ProjectionState.objects.all().delete()


def changes_for(action: str, value: Any) -> PropertyChanges:
    if action == "rename":
        return PropertyChanges(name=str(value))
    if action == "move":
        return PropertyChanges(address=replace(quay_street(), city=str(value)))
    return PropertyChanges(rent=None if value is None else Rent(Decimal(value).scaleb(-2), "EUR"))


def run(service: PropertyService, history: list[tuple[str, Any, Any]]) -> None:
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
            continue
        if not properties:
            continue
        organisation, property_id = properties[first % len(properties)]
        try:
            if action in IMAGE_ACTIONS:
                if images:
                    IMAGE_ACTIONS[action](service, *images[first % len(images)], second)
                continue
            with acting_as(context_for("writer", organisation)):
                if action == "photo":
                    images.append((organisation, service.add_image(property_id, PHOTO, str(second)).id))
                elif action in ("cover", "reorder"):
                    change_gallery(service, action, property_id, second)
                elif action == "archive":
                    service.archive_property(property_id, None, str(second))
                else:
                    service.update_property(property_id, changes_for(action, second), None)
        except DomainError:
            pass  # refused commands (archived, blank names, removed images) are part of real histories too


def change_gallery(service: PropertyService, action: str, property_id: Any, index: int) -> None:
    image_ids = service.get_property(property_id).image_ids
    if not image_ids:
        return
    if action == "cover":
        service.set_cover_image(property_id, image_ids[index % len(image_ids)])
    else:
        turn = index % len(image_ids)
        service.reorder_images(property_id, image_ids[turn:] + image_ids[:turn])


def as_manager(command: Any) -> Any:
    def run(service: PropertyService, organisation: str, image_id: Any, value: Any) -> None:
        with acting_as(context_for("writer", organisation)):
            command(service, image_id, value)

    return run


IMAGE_ACTIONS: dict[str, Any] = {
    "caption": as_manager(lambda service, image_id, caption: service.change_image_caption(image_id, caption)),
    "retry": as_manager(lambda service, image_id, _: service.retry_image(image_id)),
    "remove": as_manager(lambda service, image_id, _: service.remove_image(image_id)),
    "process": lambda service, organisation, image_id, _: record_processed(service, image_id),
    "fail": lambda service, organisation, image_id, _: record_failed(service, image_id),
}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=commands)
def test_incremental_read_models_equal_a_full_rebuild(
    service: PropertyService, history: list[tuple[str, Any, Any]]
) -> None:
    reset_read_models()
    run(service, history)
    for projection in all_projections():
        catch_up(projection, service, batch_size=3)
    for projection in all_projections():
        report = rebuild(projection, service, check=True, batch_size=5)
        assert report.drift == [], (projection.name, report.drift)
