"""Every event type of every aggregate carries who did it, stamped from the bound context."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from domain.audit import acting_as
from domain.catalog import AGGREGATES, event_classes
from domain.erasure import SubjectErasure
from domain.image import ImageVariant, PropertyImage
from domain.property import Property
from domain.retention import RetentionRun
from domain.values import PropertyKind
from tests.conftest import context_for, quay_street, rent
from tests.unit.test_property_image import a_file


def every_kind_of_aggregate() -> list[Any]:
    """New aggregates whose pending events are one of every event type, in a valid order."""
    prop = Property.register("acme", "Harbour", PropertyKind.HOUSE, quay_street(), rent())
    first = PropertyImage.add(prop.id, "acme", a_file(), "front")
    second = PropertyImage.add(prop.id, "acme", a_file(), "")
    prop.attach_image(first.id)
    prop.attach_image(second.id)
    prop.set_cover(second.id)
    prop.reorder_images([second.id, first.id])
    first.change_caption("the front door")
    first.record_failed("storage said 500 three times", attempts=3)
    first.request_retry()
    first.record_processed([ImageVariant(480, 320, "webp", 9000, "/media/x/480.webp")], attempts=1)
    second.remove()
    prop.detach_image(second.id)
    prop.rename("Harbour View")
    prop.correct_address(dataclasses.replace(quay_street(), city="Porto"))
    prop.change_rent(rent("99"))
    prop.archive()
    run = RetentionRun(days=30, cutoff=datetime.now(UTC), dry_run=True, sha256s=["ab" * 32], bytes_freed=10)
    run.remove_orphaned_blobs(datetime.now(UTC), ["cd" * 32], 20)
    run.expire_request_metadata(datetime.now(UTC), ["2026-09-01"])
    erasure = SubjectErasure("42", "GDPR art. 17 request #1", 0)
    return [prop, first, second, run, erasure]


def every_kind_of_event() -> list[Any]:
    return [event for aggregate in every_kind_of_aggregate() for event in aggregate.collect_events()]


def test_every_event_type_carries_who_did_it() -> None:
    context = context_for("alice")
    with acting_as(context):
        events = every_kind_of_event()
    every_type = {cls for aggregate in AGGREGATES for cls in event_classes(aggregate)}
    assert {type(event) for event in events} == every_type, "a test must exercise every event type"
    for event in events:
        assert event.audit == context
        assert event.audit.client_ip == "203.0.113.7"
