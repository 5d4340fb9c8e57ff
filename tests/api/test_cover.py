"""The cover photo in every property read, with absolute URLs from either image store."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from domain.audit import acting_as
from domain.image import ImageVariant
from domain.service import PropertyService
from projections.registry import all_projections
from projections.runner import catch_up
from tests.api.conftest import create
from tests.fixtures.image_outcomes import next_tracking, policy_context, record_processed
from tests.fixtures.tiny_png import png_upload

ORIGINAL = {"width": 8, "height": 6}


@pytest.fixture(autouse=True)
def storage(settings: Settings, tmp_path: Path) -> None:
    settings.BLOB_ROOT = tmp_path / "blobs"
    settings.MEDIA_ROOT = tmp_path / "media"


def upload(client: APIClient, property_id: str, colour: tuple[int, int, int] = (30, 120, 200)) -> str:
    response = client.post(
        f"/api/properties/{property_id}/images", {"file": png_upload(colour)}, format="multipart"
    )
    assert response.status_code == 202, response.content
    return str(response.json()["id"])


def project(service: PropertyService) -> None:
    """What the worker does after the image policy has recorded an outcome."""
    for projection in all_projections():
        catch_up(projection, service)


def detail(client: APIClient, property_id: str, **query: Any) -> dict[str, Any]:
    response = client.get(f"/api/properties/{property_id}", query)
    assert response.status_code == 200, response.content
    return dict(response.json())


def listed(client: APIClient) -> dict[str, dict[str, Any]]:
    response = client.get("/api/properties")
    assert response.status_code == 200, response.content
    return {row["id"]: row for row in response.json()["results"]}


def test_a_property_without_photos_has_no_cover_anywhere(manager: APIClient) -> None:
    prop = create(manager)
    assert prop["cover"] is None
    assert detail(manager, prop["id"])["cover"] is None
    assert listed(manager)[prop["id"]]["cover"] is None


def test_a_pending_cover_has_no_url_and_the_originals_size(manager: APIClient) -> None:
    prop = create(manager)
    image_id = upload(manager, prop["id"])
    expected: dict[str, Any] = {
        "image_id": image_id,
        "status": "pending",
        "url": None,
        **ORIGINAL,
        "variants": [],
    }
    assert detail(manager, prop["id"])["cover"] == expected
    assert listed(manager)[prop["id"]]["cover"] == expected


def test_a_ready_cover_shows_its_largest_variant_with_absolute_local_urls(
    manager: APIClient, service: PropertyService
) -> None:
    prop = create(manager)
    image_id = upload(manager, prop["id"])
    record_processed(service, UUID(image_id))  # 480x320 and 240x160, stored as /media/... paths
    project(service)
    base = f"http://testserver/media/images/{image_id}"
    cover = detail(manager, prop["id"])["cover"]
    assert cover == {
        "image_id": image_id,
        "status": "ready",
        "url": f"{base}/480.webp",
        "width": 480,
        "height": 320,
        "variants": [
            {"width": 480, "height": 320, "format": "webp", "bytes": 21_000, "url": f"{base}/480.webp"},
            {"width": 240, "height": 160, "format": "webp", "bytes": 7_000, "url": f"{base}/240.webp"},
        ],
    }
    assert listed(manager)[prop["id"]]["cover"] == cover
    assert (
        manager.get(f"/api/properties/{prop['id']}/images").json()["results"][0]["variants"]
        == cover["variants"]
    )


def test_cloudinary_urls_are_already_absolute_and_kept_as_they_are(
    manager: APIClient, service: PropertyService
) -> None:
    prop = create(manager)
    image_id = upload(manager, prop["id"])
    url = f"https://res.cloudinary.com/demo/image/upload/v1/cosmo/{image_id}/1024.webp"
    with acting_as(policy_context()):
        service.record_image_processed(
            UUID(image_id), [ImageVariant(1024, 683, "webp", 90_000, url)], 1, next_tracking(service)
        )
    project(service)
    assert detail(manager, prop["id"])["cover"]["url"] == url
    assert manager.get(f"/api/images/{image_id}").json()["variants"][0]["url"] == url


def test_absolute_urls_follow_the_host_the_request_came_in_by(
    manager: APIClient, service: PropertyService
) -> None:
    prop = create(manager)
    image_id = upload(manager, prop["id"])
    record_processed(service, UUID(image_id))
    project(service)
    response = manager.get(f"/api/images/{image_id}", HTTP_HOST="localhost:8011", secure=True)
    assert response.json()["variants"][0]["url"] == f"https://localhost:8011/media/images/{image_id}/480.webp"


def test_the_cover_follows_cover_changes_and_deletions(manager: APIClient) -> None:
    prop = create(manager)
    first = upload(manager, prop["id"])
    second = upload(manager, prop["id"], colour=(200, 40, 40))
    assert detail(manager, prop["id"])["cover"]["image_id"] == first
    response = manager.put(f"/api/properties/{prop['id']}/cover", {"image_id": second}, format="json")
    assert response.status_code == 200, response.content
    assert listed(manager)[prop["id"]]["cover"]["image_id"] == second
    assert manager.delete(f"/api/images/{second}").status_code == 204
    assert detail(manager, prop["id"])["cover"]["image_id"] == first
    assert manager.delete(f"/api/images/{first}").status_code == 204
    assert detail(manager, prop["id"])["cover"] is None


def test_writes_and_time_travel_answer_with_the_cover_of_their_version(manager: APIClient) -> None:
    prop = create(manager)
    first = upload(manager, prop["id"])
    second = upload(manager, prop["id"], colour=(200, 40, 40))
    manager.put(f"/api/properties/{prop['id']}/cover", {"image_id": second}, format="json")
    patched = manager.patch(f"/api/properties/{prop['id']}", {"name": "Harbour View"}, format="json").json()
    assert patched["cover"]["image_id"] == second
    assert detail(manager, prop["id"], version=1)["cover"] is None
    assert detail(manager, prop["id"], version=2)["cover"]["image_id"] == first, (
        "the first photo is the cover"
    )
    assert detail(manager, prop["id"], version=patched["version"])["cover"]["image_id"] == second


def test_a_detail_read_is_one_query_and_one_more_only_for_a_cover(manager: APIClient) -> None:
    bare, pictured = create(manager), create(manager)
    image_id = upload(manager, pictured["id"])
    with CaptureQueriesContext(connection) as queries:
        assert detail(manager, bare["id"])["cover"] is None
    assert len(queries) == 1, [query["sql"] for query in queries]
    with CaptureQueriesContext(connection) as queries:
        assert detail(manager, pictured["id"])["cover"]["image_id"] == image_id
    assert len(queries) == 2, [query["sql"] for query in queries]


def test_the_list_finds_every_rows_cover_in_one_query(manager: APIClient) -> None:
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert manager.get("/api/properties").status_code == 200
        return len(queries)

    for _ in range(2):
        upload(manager, create(manager)["id"])
    with_two = queries_for_list()
    for _ in range(4):
        upload(manager, create(manager)["id"])
    assert queries_for_list() == with_two
    assert all(row["cover"] is not None for row in listed(manager).values())


def test_after_photo_changes_the_etag_of_a_read_is_accepted_by_if_match(manager: APIClient) -> None:
    prop = create(manager)
    first = upload(manager, prop["id"])
    second = upload(manager, prop["id"])
    manager.put(f"/api/properties/{prop['id']}/cover", {"image_id": second}, format="json")
    manager.delete(f"/api/images/{first}")
    read = manager.get(f"/api/properties/{prop['id']}")
    assert read["ETag"] == '"5"', "registered, 2 x attached, cover set, detached"
    assert read.json()["version"] == 5
    listed_version = listed(manager)[prop["id"]]["version"]
    assert listed_version == 5
    patch = manager.patch(
        f"/api/properties/{prop['id']}", {"name": "Harbour View"}, format="json", HTTP_IF_MATCH=read["ETag"]
    )
    assert patch.status_code == 200, patch.content
    assert patch["ETag"] == '"6"'


def test_behind_a_trusted_proxy_urls_name_the_public_https_host(
    manager: APIClient, service: PropertyService, settings: Settings
) -> None:
    """What ``COSMO_BEHIND_PROXY`` turns on: the proxy's X-Forwarded-Proto and -Host are believed."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.USE_X_FORWARDED_HOST = True
    image_id = upload(manager, create(manager)["id"])
    record_processed(service, UUID(image_id))
    project(service)
    response = manager.get(
        f"/api/images/{image_id}", HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_HOST="localhost"
    )
    assert response.json()["variants"][0]["url"] == f"https://localhost/media/images/{image_id}/480.webp"


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(
    manager: APIClient, service: PropertyService
) -> None:
    image_id = upload(manager, create(manager)["id"])
    record_processed(service, UUID(image_id))
    project(service)
    response = manager.get(
        f"/api/images/{image_id}", HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_HOST="localhost"
    )
    assert response.json()["variants"][0]["url"] == f"http://testserver/media/images/{image_id}/480.webp"
