"""Photos of a property: the PropertyImage aggregate and the property's gallery, in memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest

from domain.audit import AuditContext
from domain.errors import (
    ImageNotFailed,
    ImageNotFound,
    InvalidImageOrder,
    InvalidValue,
    NothingChanged,
    PropertyArchived,
)
from domain.image import ImageFile, ImageStatus, ImageVariant, PropertyImage
from domain.property import Property
from domain.values import PropertyKind
from tests.conftest import quay_street


def a_file() -> ImageFile:
    return ImageFile(
        sha256="ab" * 32, bytes=3_400_000, width=4000, height=3000, format="JPEG", filename="IMG_1.jpg"
    )


def a_property() -> Property:
    return Property.register("acme", "Harbour", PropertyKind.HOUSE, quay_street(), None)


def test_an_added_image_is_pending_and_records_no_bytes(alice: AuditContext) -> None:
    image = PropertyImage.add(uuid4(), "acme", a_file(), "  front  ")
    added: Any
    [added] = image.collect_events()
    assert type(added).__name__ == "ImageAdded"
    assert (image.status, image.caption) == (ImageStatus.PENDING, "front")
    assert added.file.sha256 == "ab" * 32
    assert not any(isinstance(value, bytes) for value in vars(added).values())


def test_processing_records_variants_sizes_and_ratio(alice: AuditContext) -> None:
    image = PropertyImage.add(uuid4(), "acme", a_file(), "")
    variants = [ImageVariant(2048, 1536, "webp", 200_000, "u1"), ImageVariant(480, 360, "webp", 20_000, "u2")]
    image.record_processed(variants, attempts=2)
    processed: Any = image.collect_events()[-1]
    assert (processed.original_bytes, processed.stored_bytes, processed.ratio) == (3_400_000, 220_000, 15.45)
    assert image.status is ImageStatus.READY


def test_only_a_failed_image_can_be_retried(alice: AuditContext) -> None:
    image = PropertyImage.add(uuid4(), "acme", a_file(), "")
    with pytest.raises(ImageNotFailed):
        image.request_retry()
    image.record_failed("timeout", attempts=3)
    image.request_retry()
    assert (image.status, image.failure) == (ImageStatus.PENDING, "")


def test_a_removed_image_is_gone_for_every_change(alice: AuditContext) -> None:
    image = PropertyImage.add(uuid4(), "acme", a_file(), "")
    image.remove()
    commands: list[Callable[[], None]] = [
        lambda: image.change_caption("x"),
        image.remove,
        image.request_retry,
    ]
    for command in commands:
        with pytest.raises(ImageNotFound):
            command()


def test_captions_are_bounded_and_no_op_changes_refused(alice: AuditContext) -> None:
    image = PropertyImage.add(uuid4(), "acme", a_file(), "front")
    with pytest.raises(InvalidValue):
        image.change_caption("x" * 501)
    with pytest.raises(NothingChanged):
        image.change_caption(" front ")


def test_the_first_photo_becomes_the_cover_and_removal_moves_it(alice: AuditContext) -> None:
    prop = a_property()
    first, second = uuid4(), uuid4()
    prop.attach_image(first)
    prop.attach_image(second)
    assert (prop.image_ids, prop.cover_image_id) == ([first, second], first)
    prop.set_cover(second)
    prop.detach_image(second)
    assert (prop.image_ids, prop.cover_image_id) == ([first], first)
    prop.detach_image(first)
    assert prop.cover_image_id is None


def test_cover_and_order_must_name_the_propertys_own_photos(alice: AuditContext) -> None:
    prop = a_property()
    first, second = uuid4(), uuid4()
    prop.attach_image(first)
    prop.attach_image(second)
    with pytest.raises(ImageNotFound):
        prop.set_cover(uuid4())
    for bad_order in ([first], [first, first], [first, second, uuid4()]):
        with pytest.raises(InvalidImageOrder):
            prop.reorder_images(bad_order)
    with pytest.raises(NothingChanged):
        prop.reorder_images([first, second])
    prop.reorder_images([second, first])
    assert prop.image_ids == [second, first]


def test_an_archived_property_takes_no_new_photos(alice: AuditContext) -> None:
    prop = a_property()
    prop.archive()
    with pytest.raises(PropertyArchived):
        prop.attach_image(uuid4())
