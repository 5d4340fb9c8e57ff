"""Fixtures of the security suite: two organisations' resources, photos kept in the test's directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from domain.service import PropertyService
from tests.api.conftest import make_user
from tests.security.endpoints import OTHER, OWN, World


@pytest.fixture(autouse=True)
def storage(settings: Settings, tmp_path: Path) -> None:
    settings.BLOB_ROOT = tmp_path / "blobs"
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def world(service: PropertyService, settings: Any) -> World:
    users = {role: make_user(f"matrix-{role}", OWN, role) for role in ("manager", "auditor", "admin")}
    creators = {}
    for organisation in (OWN, OTHER):
        creators[organisation] = APIClient()
        creators[organisation].force_authenticate(make_user(f"creator-{organisation}", organisation))
    world = World(service, users, creators, settings)
    world.shared = {organisation: world.resources(organisation) for organisation in (OWN, OTHER)}
    return world
