"""Each output serializer builds its JSON by hand (``to_representation``, for speed) while its
declared fields are the published schema: real answers must have exactly the declared keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django.fixtures import Settings
from rest_framework import serializers
from rest_framework.test import APIClient

from api.audit_serializers import AuditPageOutSerializer, HistorySerializer, VerificationSerializer
from api.image_serializers import GallerySerializer, ImageSerializer
from api.log_serializers import CheckpointSerializer
from api.serializers import DashboardSerializer, ProjectionsSerializer, PropertySerializer
from domain.service import PropertyService
from infrastructure.composition import transparency_log
from projections.registry import all_projections
from projections.runner import catch_up
from tests.api.conftest import create
from tests.fixtures import hard_images as hard
from tests.fixtures.image_outcomes import record_processed


def declared(field: object) -> Any:
    """The keys a serializer declares, nested: a dict per object, a one-item list per array."""
    if isinstance(field, serializers.ListSerializer):
        return [declared(field.child)]
    if isinstance(field, serializers.Serializer):
        return {name: declared(child) for name, child in field.fields.items()}
    return None


def assert_shape(value: Any, shape: Any, where: str = "$") -> None:
    if isinstance(shape, dict) and value is not None:
        assert isinstance(value, dict), where
        assert sorted(value) == sorted(shape), where
        for name, inner in shape.items():
            assert_shape(value[name], inner, f"{where}.{name}")
    elif isinstance(shape, list):
        assert isinstance(value, list), where
        for index, item in enumerate(value):
            assert_shape(item, shape[0], f"{where}[{index}]")


def answer(client: APIClient, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def auditor(client_for: Callable[..., APIClient]) -> APIClient:
    return client_for("ann", "acme", "auditor")


def test_every_hand_built_answer_has_exactly_its_serializers_fields(
    client_for: Callable[..., APIClient],
    manager: APIClient,
    auditor: APIClient,
    service: PropertyService,
    settings: Settings,
    tmp_path: Path,
) -> None:
    settings.BLOB_ROOT = tmp_path / "blobs"
    settings.MEDIA_ROOT = tmp_path / "media"
    prop = create(manager)
    file = SimpleUploadedFile("IMG_0001.jpg", hard.photo("rocket.jpg"), content_type="image/jpeg")
    upload = manager.post(f"/api/properties/{prop['id']}/images", {"file": file}, format="multipart")
    assert upload.status_code == 202, upload.content
    record_processed(service, UUID(upload.json()["id"]))
    for projection in all_projections():
        catch_up(projection, service)
    transparency_log().make_checkpoint()

    [listed] = answer(manager, "/api/properties")["results"]
    assert listed["cover"]["url"], "a ready cover, so its nested shape is checked too"
    image = answer(manager, f"/api/images/{upload.json()['id']}")
    assert image["variants"], "a ready photo, so the variants' shape is checked too"
    answers = [
        (PropertySerializer(), prop),
        (PropertySerializer(), listed),
        (PropertySerializer(), answer(manager, f"/api/properties/{prop['id']}?version=1")),
        (ImageSerializer(), upload.json()),
        (ImageSerializer(), image),
        (GallerySerializer(), answer(manager, f"/api/properties/{prop['id']}/images")),
        (HistorySerializer(), answer(manager, f"/api/properties/{prop['id']}/history")),
        (AuditPageOutSerializer(), answer(auditor, "/api/audit/events")),
        (VerificationSerializer(), answer(auditor, "/api/audit/verify")),
        (CheckpointSerializer(), answer(auditor, "/api/audit/checkpoint")),
        (DashboardSerializer(), answer(manager, "/api/dashboard")),
        (ProjectionsSerializer(), answer(client_for("root", "acme", "admin"), "/api/projections")),
    ]
    for serializer, body in answers:
        assert_shape(body, declared(serializer), type(serializer).__name__)
