from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from rest_framework.test import APIClient

from api.models import User
from domain.service import PropertyService

PASSWORD = "correct-horse-battery"


def make_user(username: str, organisation: str = "acme", role: str = "manager", hasher: str = "md5") -> User:
    user = User(username=username, organisation=organisation, role=role)
    user.password = make_password(PASSWORD, hasher=hasher)
    user.save()
    return user


@pytest.fixture
def client_for(service: PropertyService) -> Callable[..., APIClient]:
    """An API client logged in as a new user of the given organisation and role."""

    def build(username: str, organisation: str = "acme", role: str = "manager") -> APIClient:
        client = APIClient(REMOTE_ADDR="198.51.100.23", HTTP_USER_AGENT="cosmo-tests/1.0")
        client.force_authenticate(make_user(username, organisation, role))
        return client

    return build


@pytest.fixture
def manager(client_for: Callable[..., APIClient]) -> APIClient:
    return client_for("alice")


NEW_PROPERTY: dict[str, Any] = {
    "name": "Harbour View Flats",
    "kind": "apartment",
    "address": {"street": "1 Quay St", "city": "Lisbon", "postal_code": "1100-001", "country": "PT"},
    "rent": {"amount": "1250.00", "currency": "EUR"},
}


def create(client: APIClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/properties", {**NEW_PROPERTY, **overrides}, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())
