"""An event stored before its class changed still reads, projects, exports and verifies.

``PropertyRegistered`` gained ``status`` in version 2 (docs/adr/0019). A version 1 event is made
here as the code before it stored one: the same event without ``status`` or ``class_version``,
written through the real recorder, so its chain link and Merkle leaf are over those bytes. It is
upcast whenever it is read; its stored bytes never change.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
from django.core.management import call_command
from eventsourcing.persistence import StoredEvent

from domain.audit import AuditContext
from domain.property import Property
from domain.service import PropertyService
from domain.values import PropertyKind, PropertyStatus
from projections.models import PropertyListing
from tests.conftest import quay_street, rent
from tests.integration.test_audit_bundle import auditor_path, bundle, checkpoint, offline

__all__ = ["auditor_path"]  # the offline verifier's isolated site, a fixture of the bundle tests
REGISTERED = "cosmo.property.registered"


@pytest.fixture
def version_1(service: PropertyService, alice: AuditContext, monkeypatch: pytest.MonkeyPatch) -> UUID:
    """A property registered by the code before version 2, then one by today's."""
    to_stored_event = service.mapper.to_stored_event

    def as_version_1(event: Any) -> StoredEvent:
        stored = to_stored_event(event)
        state = orjson.loads(stored.state)
        assert state.pop("class_version") == 2
        assert state.pop("status") == {"_type_": "property_status", "_data_": "active"}
        return StoredEvent(stored.originator_id, stored.originator_version, stored.topic, orjson.dumps(state))

    monkeypatch.setattr(service.mapper, "to_stored_event", as_version_1)
    old = service.register_property(name="Old", kind=PropertyKind.HOUSE, address=quay_street(), rent=rent())
    monkeypatch.undo()
    service.register_property(name="New", kind=PropertyKind.LAND, address=quay_street(), rent=None)
    return old.id


def stored_registrations(service: PropertyService) -> Iterator[tuple[int, StoredEvent]]:
    for notification in service.recorder.select_notifications(start=1, limit=100):
        if notification.topic == REGISTERED:
            yield notification.id, notification


def test_a_version_1_registration_is_stored_as_it_was_and_reads_as_version_2(
    service: PropertyService, version_1: UUID
) -> None:
    (_, old), (_, new) = stored_registrations(service)
    assert b'"status"' not in old.state
    assert b'"class_version"' not in old.state
    assert b'"class_version":2' in new.state

    event = service.mapper.to_domain_event(old)
    assert isinstance(event, Property.PropertyRegistered)
    assert event.status is PropertyStatus.ACTIVE
    assert service.get_property(version_1, version=1).status is PropertyStatus.ACTIVE
    service.archive_property(version_1, 1)
    assert service.get_property(version_1).status is PropertyStatus.ARCHIVED


def test_read_models_rebuilt_from_a_version_1_event_match_the_ones_written_live(
    service: PropertyService, version_1: UUID
) -> None:
    call_command("projections", "rebuild", "--check", "property_list", stdout=io.StringIO())  # no drift
    call_command("projections", "rebuild", "--all", stdout=io.StringIO(), stderr=io.StringIO())
    listing = PropertyListing.live().get(property_id=version_1)
    assert (listing.name, listing.status) == ("Old", "active")


def test_the_export_shows_what_was_recorded_and_the_chain_and_proofs_verify_over_it(
    service: PropertyService, version_1: UUID, auditor_path: Path, tmp_path: Path
) -> None:
    (old_position, _), (new_position, _) = stored_registrations(service)
    verified = io.StringIO()
    call_command("audit", "verify", stdout=verified)
    assert verified.getvalue().startswith("OK"), verified.getvalue()

    checkpoint()
    out = bundle(tmp_path, "--from", str(old_position), "--to", str(new_position))
    status, output = offline(auditor_path, out)
    assert status == 0, output
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()[1:]]
    assert [event["type"] for event in events] == ["PropertyRegistered", "PropertyRegistered"]
    assert "status" not in events[0]["data"], "the export shows the stored event, not its upcast form"
    assert events[1]["data"]["status"] == "active"
