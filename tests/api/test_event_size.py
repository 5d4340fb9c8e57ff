"""COSMO_MAX_EVENT_BYTES: a command whose event would be too large is refused, nothing stored."""

from __future__ import annotations

from collections.abc import Callable

from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from domain.service import PropertyService
from infrastructure import composition
from tests.api.conftest import NEW_PROPERTY


def test_an_oversized_event_is_413_and_records_nothing(
    service: PropertyService, settings: Settings, client_for: Callable[..., APIClient]
) -> None:
    # An ordinary registration (sealed actor, address, rent, status) stays under it; 800 more bytes do not.
    settings.COSMO_MAX_EVENT_BYTES = 1400
    composition.reset()
    manager = client_for("alice")
    long = "x" * 200
    address = {"street": long, "city": long, "postal_code": long, "country": "PT"}
    response = manager.post(
        "/api/properties", {**NEW_PROPERTY, "name": long, "address": address}, format="json"
    )
    assert response.status_code == 413, response.content
    error = response.json()["error"]
    assert error["code"] == "event_too_large"
    assert "limit is 1400" in error["message"]
    assert composition.property_service().recorder.max_notification_id() is None
    assert manager.post("/api/properties", NEW_PROPERTY, format="json").status_code == 201
