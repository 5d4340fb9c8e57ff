"""A property's history: its events in order, each with a field-level diff, for those who may see it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from rest_framework.test import APIClient

from tests.api.conftest import NEW_PROPERTY, create
from tests.api.test_properties import error_of

HARBOUR = NEW_PROPERTY["address"]
QUAY_RENT = NEW_PROPERTY["rent"]
PORTO = {"street": "Rua das Flores 12", "city": "Porto", "postal_code": "4050-262", "country": "PT"}


def history(client: APIClient, property_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/properties/{property_id}/history")
    assert response.status_code == 200, response.content
    return list(response.json()["events"])


@pytest.fixture
def lived(manager: APIClient) -> str:
    """A property registered, renamed, moved, re-let, let go and archived: six events."""
    property_id = str(create(manager)["id"])
    for change in (
        {"name": "Harbour View Apartments"},
        {"address": PORTO},
        {"rent": {"amount": "1300.00", "currency": "EUR"}},
        {"rent": None},
    ):
        assert manager.patch(f"/api/properties/{property_id}", change, format="json").status_code == 200
    archived = manager.post(f"/api/properties/{property_id}/archive", {"reason": "sold"}, format="json")
    assert archived.status_code == 200
    return property_id


def test_each_event_says_what_it_changed(manager: APIClient, lived: str) -> None:
    events = history(manager, lived)
    assert [(e["type"], e["version"], e["changes"]) for e in events] == [
        (
            "PropertyRegistered",
            1,
            {
                "organisation": {"before": None, "after": "acme"},
                "name": {"before": None, "after": "Harbour View Flats"},
                "kind": {"before": None, "after": "apartment"},
                "address": {"before": None, "after": HARBOUR},
                "rent": {"before": None, "after": QUAY_RENT},
                "status": {"before": None, "after": "active"},
                "image_ids": {"before": None, "after": []},
                "cover_image_id": {"before": None, "after": None},
            },
        ),
        (
            "PropertyRenamed",
            2,
            {"name": {"before": "Harbour View Flats", "after": "Harbour View Apartments"}},
        ),
        ("AddressCorrected", 3, {"address": {"before": HARBOUR, "after": PORTO}}),
        (
            "RentChanged",
            4,
            {"rent": {"before": QUAY_RENT, "after": {"amount": "1300.00", "currency": "EUR"}}},
        ),
        ("RentChanged", 5, {"rent": {"before": {"amount": "1300.00", "currency": "EUR"}, "after": None}}),
        ("PropertyArchived", 6, {"status": {"before": "active", "after": "archived"}}),
    ]


def test_a_registration_without_rent_still_lists_every_field(manager: APIClient) -> None:
    first = history(manager, create(manager, rent=None)["id"])[0]
    assert first["changes"]["rent"] == {"before": None, "after": None}
    assert set(first["changes"]) == {
        "organisation",
        "name",
        "kind",
        "address",
        "rent",
        "status",
        "image_ids",
        "cover_image_id",
    }


def test_history_events_are_the_audit_streams_events_with_their_positions(
    client_for: Callable[..., APIClient], manager: APIClient, lived: str
) -> None:
    other = create(client_for("bob", "globex"))["id"]
    auditor = client_for("ann", "audit-firm", "auditor")
    stream = auditor.get("/api/audit/events", {"aggregate_id": lived}).json()["events"]
    events = history(manager, lived)
    assert [{k: v for k, v in e.items() if k != "changes"} for e in events] == stream
    assert [e["position"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert [e["position"] for e in history(auditor, other)] == [7]


def test_interleaved_properties_each_keep_their_own_history(manager: APIClient) -> None:
    first, second = create(manager)["id"], create(manager, name="Old Mill")["id"]
    manager.patch(f"/api/properties/{first}", {"name": "First renamed"}, format="json")
    manager.patch(f"/api/properties/{second}", {"name": "Second renamed"}, format="json")
    assert [(e["position"], e["version"]) for e in history(manager, first)] == [(1, 1), (3, 2)]
    renamed = history(manager, second)[1]
    assert (renamed["position"], renamed["changes"]) == (
        4,
        {"name": {"before": "Old Mill", "after": "Second renamed"}},
    )


def test_managers_see_only_their_organisations_histories(
    client_for: Callable[..., APIClient], manager: APIClient, lived: str
) -> None:
    assert len(history(client_for("carol"), lived)) == 6
    mallory = client_for("mallory", "globex")
    for missing in (lived, str(uuid4())):
        response = mallory.get(f"/api/properties/{missing}/history")
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"


def test_auditors_and_admins_see_every_organisations_histories(
    client_for: Callable[..., APIClient], lived: str
) -> None:
    assert len(history(client_for("ann", "audit-firm", "auditor"), lived)) == 6
    assert len(history(client_for("root", "globex", "admin"), lived)) == 6
