"""Master-key rotation re-wraps data keys only, and a missing master key is named."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from eventsourcing.persistence import MapperDeserialisationError
from pytest_django.fixtures import Settings

from domain.audit import AuditContext, acting_as
from domain.service import PropertyService
from domain.values import PropertyKind
from infrastructure import composition
from infrastructure.data_keys import MasterKey, MissingMasterKey
from tests.conftest import context_for, quay_street

NEW_MASTER = "a-new-master-key-for-the-rotation-test-0123456789"


def use_master_keys(settings: Settings, current: str, *previous: str) -> PropertyService:
    settings.COSMO_MASTER_KEY = current
    settings.COSMO_PREVIOUS_MASTER_KEYS = previous
    composition.reset()
    return composition.property_service()


def test_rotation_rewraps_data_keys_and_leaves_every_event_as_it_was(
    service: PropertyService, settings: Settings, alice: AuditContext
) -> None:
    old = settings.COSMO_MASTER_KEY
    receipt = service.register_property(name="Keys", kind=PropertyKind.HOUSE, address=quay_street())
    stored_before = [n.state for n in service.recorder.select_notifications(1, 10)]

    app = use_master_keys(settings, NEW_MASTER)
    with pytest.raises(MapperDeserialisationError, match=r"subject:id-alice.*is not configured") as raised:
        app.get_property(receipt.id)
    assert isinstance(raised.value.__cause__, MissingMasterKey)
    assert MasterKey(old).id in str(raised.value)

    use_master_keys(settings, NEW_MASTER, old)
    out = StringIO()
    call_command("data_keys", "rotate", stdout=out)
    assert out.getvalue().startswith("re-wrapped 2 data keys")  # alice's and today's

    app = use_master_keys(settings, NEW_MASTER)
    with acting_as(context_for("alice")):
        [event] = app.events.get(receipt.id)
    assert event.audit.username == "alice"  # type: ignore[attr-defined]
    assert [n.state for n in app.recorder.select_notifications(1, 10)] == stored_before
