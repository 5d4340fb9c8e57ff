"""The gallery read model and the dashboard's image counts, on a real database."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from domain.audit import AuditContext
from domain.service import PropertyService
from domain.values import PropertyKind
from projections.models import DashboardImage, GalleryImage, OrganisationDashboard, PropertyGallery
from projections.organisation_dashboard import OrganisationDashboardProjection
from projections.property_detail import PropertyDetailProjection
from projections.registry import all_projections
from projections.runner import catch_up, rebuild
from tests.conftest import quay_street
from tests.fixtures import hard_images as hard
from tests.fixtures.image_outcomes import file_of, record_failed, record_processed, variants_of

ROCKET = file_of(hard.photo("rocket.jpg"), "rocket.jpg")


def register(service: PropertyService) -> UUID:
    return service.register_property(name="With photos", kind=PropertyKind.HOUSE, address=quay_street()).id


def add(service: PropertyService, property_id: UUID, caption: str = "") -> UUID:
    return service.add_image(property_id, ROCKET, caption).id


def row(image_id: UUID) -> GalleryImage:
    found: GalleryImage = GalleryImage.live().get(image_id=image_id)
    return found


def order(property_id: UUID) -> list[tuple[UUID, bool]]:
    rows = GalleryImage.live().filter(property_id=property_id).order_by("position")
    return [(r.image_id, r.is_cover) for r in rows]


def catch_up_all(service: PropertyService, batch_size: int = 500) -> None:
    for projection in all_projections():
        catch_up(projection, service, batch_size)


def test_an_added_image_is_a_pending_row_with_its_file_facts(
    service: PropertyService, alice: AuditContext
) -> None:
    property_id = register(service)
    image_id = add(service, property_id, "front")
    catch_up(PropertyDetailProjection(), service)
    added = row(image_id)
    assert (added.property_id, added.organisation, added.status, added.caption) == (
        property_id,
        "acme",
        "pending",
        "front",
    )
    assert (added.filename, added.format, added.width, added.height, added.original_bytes) == (
        "rocket.jpg",
        "jpeg",
        ROCKET.width,
        ROCKET.height,
        ROCKET.bytes,
    )
    assert (added.variants, added.stored_bytes, added.failure, added.attempts) == ([], 0, "", 0)
    assert (added.position, added.is_cover) == (0, True)
    assert added.created_at == added.updated_at == service.get_image(image_id).created_on


def test_processing_fills_the_variants_and_a_failure_keeps_its_reason(
    service: PropertyService, alice: AuditContext
) -> None:
    property_id = register(service)
    done, broken = add(service, property_id), add(service, property_id)
    record_processed(service, done, attempts=2)
    record_failed(service, broken, "cloudinary answered 500 three times")
    catch_up(PropertyDetailProjection(), service)
    ready = row(done)
    assert (ready.status, ready.stored_bytes, ready.attempts, ready.failure) == ("ready", 28_000, 2, "")
    assert ready.variants == [
        {"width": v.width, "height": v.height, "format": v.format, "bytes": v.bytes, "url": v.url}
        for v in variants_of(done)
    ]
    assert ready.updated_at == service.get_image(done).modified_on
    failed = row(broken)
    assert (failed.status, failed.failure, failed.attempts) == (
        "failed",
        "cloudinary answered 500 three times",
        3,
    )

    service.retry_image(broken)
    catch_up(PropertyDetailProjection(), service)
    assert (row(broken).status, row(broken).failure) == ("pending", "")


def test_order_and_cover_follow_the_property(service: PropertyService, alice: AuditContext) -> None:
    property_id = register(service)
    first, second, third = (add(service, property_id) for _ in range(3))
    catch_up(PropertyDetailProjection(), service)
    assert order(property_id) == [(first, True), (second, False), (third, False)]

    service.reorder_images(property_id, [third, first, second])
    service.set_cover_image(property_id, second)
    catch_up(PropertyDetailProjection(), service)
    assert order(property_id) == [(third, False), (first, False), (second, True)]

    service.remove_image(second)
    catch_up(PropertyDetailProjection(), service)
    assert order(property_id) == [(third, True), (first, False)], "the first remaining photo is the cover"
    assert not GalleryImage.live().filter(image_id=second).exists(), "a removed image's row is gone"
    gallery = PropertyGallery.live().get(property_id=property_id)
    assert (gallery.image_ids, gallery.cover_image_id) == ([third.hex, first.hex], third)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 500])
def test_any_batching_gives_the_same_rows(
    service: PropertyService, alice: AuditContext, batch_size: int
) -> None:
    """A batch may hold an image's ImageAdded with its later events, or split them anywhere."""
    property_id = register(service)
    kept, gone, again = (add(service, property_id) for _ in range(3))
    service.change_image_caption(kept, "kitchen")
    record_processed(service, kept)
    service.remove_image(gone)
    record_failed(service, again)
    service.retry_image(again)
    service.reorder_images(property_id, [again, kept])
    catch_up(PropertyDetailProjection(), service, batch_size)
    assert order(property_id) == [(again, False), (kept, True)]
    assert (row(kept).caption, row(kept).status, row(again).status) == ("kitchen", "ready", "pending")
    assert rebuild(PropertyDetailProjection(), service, check=True).drift == []


def test_the_dashboard_counts_pending_and_failed_images(
    service: PropertyService, alice: AuditContext
) -> None:
    property_id = register(service)
    images = [add(service, property_id) for _ in range(5)]
    record_processed(service, images[0])
    record_failed(service, images[1])
    record_failed(service, images[2])
    service.retry_image(images[2])
    service.remove_image(images[3])
    catch_up_all(service, batch_size=4)

    def counts() -> tuple[Any, ...]:
        dashboard = OrganisationDashboard.live().get(organisation="acme")
        return (dashboard.active_properties, dashboard.images_pending, dashboard.images_failed)

    assert counts() == (1, 2, 1), "two pending (one retried), one failed, one ready, one removed"
    assert DashboardImage.live().count() == 4
    service.remove_image(images[1])
    catch_up_all(service)
    assert counts() == (1, 2, 0)
    assert rebuild(OrganisationDashboardProjection(), service, check=True).drift == []
