"""Photo endpoints through the DRF test client, with real images, on a real database."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from api.uploads import upload_filename
from domain.service import PropertyService
from projections.registry import all_projections
from projections.runner import catch_up
from tests.api.conftest import create
from tests.fixtures import hard_images as hard
from tests.fixtures.fake_cloudinary import FakeCloudinary
from tests.fixtures.image_outcomes import record_failed, record_processed, variants_of

ROCKET = hard.photo("rocket.jpg")


@pytest.fixture(autouse=True)
def storage(settings: Settings, tmp_path: Path) -> Path:
    """Originals and variants of each test in its own directories."""
    settings.BLOB_ROOT = tmp_path / "blobs"
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path


def upload(
    client: APIClient, property_id: str, data: bytes = ROCKET, name: str = "IMG_0001.jpg", **form: Any
) -> Any:
    file = SimpleUploadedFile(name, data, content_type="image/jpeg")
    return client.post(f"/api/properties/{property_id}/images", {"file": file, **form}, format="multipart")


def uploaded(client: APIClient, property_id: str, data: bytes = ROCKET, **form: Any) -> dict[str, Any]:
    response = upload(client, property_id, data, **form)
    assert response.status_code == 202, response.content
    return dict(response.json())


def gallery(client: APIClient, property_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/properties/{property_id}/images")
    assert response.status_code == 200, response.content
    return list(response.json()["results"])


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def project(service: PropertyService) -> None:
    """What the worker does after the image policy has recorded an outcome."""
    for projection in all_projections():
        catch_up(projection, service)


def head(service: PropertyService) -> int:
    return service.recorder.max_notification_id() or 0


def stored_blobs(root: Path) -> list[Path]:
    return [path for path in (root / "blobs").rglob("*") if path.is_file()]


def test_an_uploaded_photo_is_accepted_as_pending(manager: APIClient, storage: Path) -> None:
    prop = create(manager)
    response = upload(manager, prop["id"], caption="Harbour side")
    assert response.status_code == 202, response.content
    image = response.json()
    assert response["Location"] == f"/api/images/{image['id']}"
    assert int(response["X-Cosmo-Position"]) == 3, "registered, then ImageAdded and ImageAttached"
    assert {k: v for k, v in image.items() if k not in ("id", "created_at", "updated_at")} == {
        "property_id": prop["id"],
        "status": "pending",
        "caption": "Harbour side",
        "filename": "IMG_0001.jpg",
        "format": "jpeg",
        "width": 640,
        "height": 427,
        "original_bytes": len(ROCKET),
        "stored_bytes": 0,
        "variants": [],
        "cover": True,
        "failure": None,
    }
    assert image["created_at"].endswith("Z")
    [original] = stored_blobs(storage)
    assert original.read_bytes() == ROCKET, "the original is kept, named by its SHA-256"


def test_the_gallery_and_the_image_show_the_upload_at_once(manager: APIClient) -> None:
    prop = create(manager)
    first = uploaded(manager, prop["id"])
    second = uploaded(manager, prop["id"], hard.photo("coffee.png"), name="coffee.png")
    assert gallery(manager, prop["id"]) == [first, {**second, "cover": False}]
    assert manager.get(f"/api/images/{first['id']}").json() == first
    assert second["format"] == "png"


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (hard.svg(), 415, "unsupported_image"),
        (hard.html(), 415, "unsupported_image"),
        (hard.pdf(), 415, "unsupported_image"),
        (hard.random_bytes(), 415, "unsupported_image"),
        (b"", 415, "empty_file"),
        (hard.png_declaring(100_000, 100_000), 413, "too_many_pixels"),
        (hard.truncated_jpeg(), 400, "corrupt_image"),
    ],
    ids=["svg", "html", "pdf", "random", "empty", "bomb", "truncated"],
)
def test_what_is_not_an_acceptable_image_is_refused_and_nothing_is_kept(
    manager: APIClient, service: PropertyService, storage: Path, data: bytes, status: int, code: str
) -> None:
    prop = create(manager)
    before = head(service)
    response = upload(manager, prop["id"], data)
    assert response.status_code == status, response.content
    assert error_code(response) == code
    assert response.json()["error"]["fields"]["file"]
    assert head(service) == before, "nothing recorded"
    assert stored_blobs(storage) == [], "nothing stored"
    assert gallery(manager, prop["id"]) == []


def test_an_upload_over_the_size_limit_is_413(
    manager: APIClient, service: PropertyService, settings: Settings, storage: Path
) -> None:
    prop = create(manager)
    before = head(service)
    settings.COSMO_MAX_UPLOAD_BYTES = len(ROCKET) - 1
    response = upload(manager, prop["id"])
    assert (response.status_code, error_code(response)) == (413, "upload_too_large")
    assert head(service) == before
    assert stored_blobs(storage) == []


def test_an_announced_oversize_body_is_refused_without_reading_it(
    manager: APIClient, service: PropertyService, settings: Settings
) -> None:
    prop = create(manager)
    settings.COSMO_MAX_UPLOAD_BYTES = 1000
    before = head(service)
    response = manager.generic(
        "POST",
        f"/api/properties/{prop['id']}/images",
        "not even multipart",
        content_type="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(10 * 1024 * 1024),
    )
    assert (response.status_code, error_code(response)) == (413, "upload_too_large")
    assert head(service) == before


def test_an_upload_without_a_file_is_400(manager: APIClient, service: PropertyService) -> None:
    prop = create(manager)
    before = head(service)
    response = manager.post(f"/api/properties/{prop['id']}/images", {"caption": "x"}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["error"]["fields"]
    assert head(service) == before


def test_an_archived_property_refuses_new_photos(
    manager: APIClient, service: PropertyService, storage: Path
) -> None:
    prop = create(manager)
    assert manager.post(f"/api/properties/{prop['id']}/archive", {}, format="json").status_code == 200
    before = head(service)
    response = upload(manager, prop["id"])
    assert (response.status_code, error_code(response)) == (409, "property_archived")
    assert head(service) == before
    assert stored_blobs(storage) == []


def test_another_organisations_photos_are_not_found(
    manager: APIClient, client_for: Callable[..., APIClient]
) -> None:
    prop = create(manager)
    image = uploaded(manager, prop["id"])
    stranger = client_for("bob", "globex")
    assert upload(stranger, prop["id"]).status_code == 404
    assert stranger.get(f"/api/properties/{prop['id']}/images").status_code == 404
    assert stranger.get(f"/api/images/{image['id']}").status_code == 404
    assert stranger.patch(f"/api/images/{image['id']}", {"caption": "mine"}, format="json").status_code == 404
    assert stranger.delete(f"/api/images/{image['id']}").status_code == 404
    assert manager.get(f"/api/images/{uuid4()}").status_code == 404


def test_auditors_see_photos_but_cannot_upload(
    manager: APIClient, client_for: Callable[..., APIClient], service: PropertyService
) -> None:
    prop = create(manager)
    image = uploaded(manager, prop["id"])
    auditor = client_for("audrey", "acme", "auditor")
    before = head(service)
    assert upload(auditor, prop["id"]).status_code == 403
    assert auditor.delete(f"/api/images/{image['id']}").status_code == 403
    assert head(service) == before
    assert auditor.get(f"/api/images/{image['id']}").json() == image


def test_the_caption_can_be_changed(manager: APIClient) -> None:
    image = uploaded(manager, create(manager)["id"])
    response = manager.patch(f"/api/images/{image['id']}", {"caption": " Sea view "}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["caption"] == "Sea view"
    assert manager.get(f"/api/images/{image['id']}").json() == response.json()
    bad = manager.patch(f"/api/images/{image['id']}", {"caption": "a\x00b"}, format="json")
    assert (bad.status_code, list(bad.json()["error"]["fields"])) == (400, ["caption"])
    unknown = manager.patch(f"/api/images/{image['id']}", {"status": "ready"}, format="json")
    assert unknown.status_code == 400


def test_the_cover_and_the_order_can_be_chosen(manager: APIClient) -> None:
    prop = create(manager)
    first, second, third = (uploaded(manager, prop["id"])["id"] for _ in range(3))
    response = manager.put(f"/api/properties/{prop['id']}/cover", {"image_id": third}, format="json")
    assert response.status_code == 200, response.content
    assert [(i["id"], i["cover"]) for i in response.json()["results"]] == [
        (first, False),
        (second, False),
        (third, True),
    ]
    response = manager.put(
        f"/api/properties/{prop['id']}/images/order", {"image_ids": [third, first, second]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert [i["id"] for i in response.json()["results"]] == [third, first, second]
    assert [i["id"] for i in gallery(manager, prop["id"])] == [third, first, second]


@pytest.mark.parametrize(
    ("order", "status"),
    [
        (lambda ids: ids[:2], 409),
        (lambda ids: [*ids, ids[0]], 409),
        (lambda ids: [*ids[:2], str(uuid4())], 409),
        (lambda ids: ["not-a-uuid"], 400),
        (lambda ids: "all of them", 400),
    ],
    ids=["missing", "duplicate", "stranger", "not-a-uuid", "not-a-list"],
)
def test_an_order_that_is_not_every_photo_once_is_refused(
    manager: APIClient, service: PropertyService, order: Callable[[list[str]], Any], status: int
) -> None:
    prop = create(manager)
    ids = [uploaded(manager, prop["id"])["id"] for _ in range(3)]
    before = head(service)
    response = manager.put(
        f"/api/properties/{prop['id']}/images/order", {"image_ids": order(ids)}, format="json"
    )
    assert response.status_code == status, response.content
    assert "image_ids" in response.json()["error"]["fields"]
    assert head(service) == before


def test_a_cover_that_is_not_a_photo_of_the_property_is_a_conflict(manager: APIClient) -> None:
    prop, other = create(manager), create(manager)
    stranger = uploaded(manager, other["id"])
    response = manager.put(f"/api/properties/{prop['id']}/cover", {"image_id": stranger["id"]}, format="json")
    assert response.status_code == 409
    assert "image_id" in response.json()["error"]["fields"]


def test_a_deleted_photo_is_gone_and_the_cover_moves_on(manager: APIClient, service: PropertyService) -> None:
    prop = create(manager)
    first, second = (uploaded(manager, prop["id"])["id"] for _ in range(2))
    response = manager.delete(f"/api/images/{first}")
    assert response.status_code == 204
    assert int(response["X-Cosmo-Position"]) == head(service)
    assert manager.get(f"/api/images/{first}").status_code == 404
    assert [(i["id"], i["cover"]) for i in gallery(manager, prop["id"])] == [(second, True)]
    assert manager.delete(f"/api/images/{first}").status_code == 404
    assert [type(e).__name__ for e in service.events.get(UUID(first))] == ["ImageAdded", "ImageRemoved"]


def test_a_photo_of_an_archived_property_can_still_be_deleted(manager: APIClient) -> None:
    prop = create(manager)
    image = uploaded(manager, prop["id"])
    assert manager.post(f"/api/properties/{prop['id']}/archive", {}, format="json").status_code == 200
    assert manager.delete(f"/api/images/{image['id']}").status_code == 204
    assert gallery(manager, prop["id"]) == []


def test_only_a_failed_photo_can_be_retried(manager: APIClient, service: PropertyService) -> None:
    image = uploaded(manager, create(manager)["id"])
    response = manager.post(f"/api/images/{image['id']}/retry")
    assert (response.status_code, error_code(response)) == (409, "image_not_failed")

    record_failed(service, UUID(image["id"]), "the store timed out three times")
    project(service)
    failed = manager.get(f"/api/images/{image['id']}").json()
    assert (failed["status"], failed["failure"]) == ("failed", "the store timed out three times")
    response = manager.post(f"/api/images/{image['id']}/retry")
    assert response.status_code == 202, response.content
    assert (response.json()["status"], response.json()["failure"]) == ("pending", None)
    assert manager.get(f"/api/images/{image['id']}").json()["status"] == "pending"


def test_a_processed_photo_lists_its_variants_with_absolute_urls(
    manager: APIClient, service: PropertyService
) -> None:
    image = uploaded(manager, create(manager)["id"])
    receipt = record_processed(service, UUID(image["id"]))
    project(service)
    ready = manager.get(f"/api/images/{image['id']}", HTTP_X_COSMO_MIN_POSITION=str(receipt.position)).json()
    assert ready["status"] == "ready"
    assert ready["variants"] == [
        {
            "width": v.width,
            "height": v.height,
            "format": v.format,
            "bytes": v.bytes,
            "url": f"http://testserver{v.url}",
        }
        for v in variants_of(UUID(image["id"]))
    ]
    assert ready["stored_bytes"] == sum(v.bytes for v in variants_of(UUID(image["id"])))


def test_the_property_history_tells_each_photos_story(manager: APIClient, service: PropertyService) -> None:
    prop = create(manager)
    image = uploaded(manager, prop["id"])
    record_processed(service, UUID(image["id"]))
    assert manager.delete(f"/api/images/{image['id']}").status_code == 204
    events = manager.get(f"/api/properties/{prop['id']}/history").json()["events"]
    assert [(e["type"], e["actor"]["username"]) for e in events] == [
        ("PropertyRegistered", "alice"),
        ("ImageAdded", "alice"),
        ("ImageAttached", "alice"),
        ("ImageProcessed", "image-policy"),
        ("ImageRemoved", "alice"),
        ("ImageDetached", "alice"),
    ]
    assert events[1]["changes"]["file"]["after"]["filename"] == "IMG_0001.jpg"
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)


def test_the_dashboard_counts_pending_and_failed_photos(manager: APIClient, service: PropertyService) -> None:
    prop = create(manager)
    images = [UUID(uploaded(manager, prop["id"])["id"]) for _ in range(3)]
    [row] = manager.get("/api/dashboard").json()["organisations"]
    assert (row["images_pending"], row["images_failed"]) == (3, 0)
    record_failed(service, images[0])
    record_processed(service, images[1])
    project(service)
    [row] = manager.get("/api/dashboard").json()["organisations"]
    assert (row["active_properties"], row["images_pending"], row["images_failed"]) == (1, 1, 1)


def test_variants_on_local_disk_are_served_with_an_hour_of_public_caching(
    manager: APIClient, storage: Path
) -> None:
    image_id = uuid4()
    variant = storage / "media" / "images" / str(image_id) / "480.webp"
    variant.parent.mkdir(parents=True)
    variant.write_bytes(b"RIFF....WEBP")
    response = APIClient().get(f"/media/images/{image_id}/480.webp")
    assert response.status_code == 200
    assert (response["Content-Type"], response.getvalue()) == ("image/webp", b"RIFF....WEBP")
    assert response["Cache-Control"] == "public, max-age=3600", "deleted photos leave caches within the hour"
    (variant.parent / "480.avif").write_bytes(b"avif")
    assert APIClient().get(f"/media/images/{image_id}/480.avif")["Content-Type"] == "image/avif"


@pytest.mark.parametrize(
    "path",
    [
        "images/nothing/480.webp",
        "%2e%2e/secret.jpg",
        "images/%2e%2e/%2e%2e/secret.jpg",
        "notes.txt",
        "images/",
    ],
)
def test_the_media_view_serves_nothing_else(storage: Path, path: str) -> None:
    (storage / "secret.jpg").write_bytes(b"outside the media root")
    (storage / "media").mkdir()
    (storage / "media" / "notes.txt").write_text("not an image")
    response = APIClient().get(f"/media/{path}")
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("no such file"), "refused by the media view"


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("IMG_0001.JPG", "IMG_0001.JPG"),
        ("../../etc/passwd.jpg", "passwd.jpg"),
        ("C:\\Users\\me\\kitchen.jpg", "kitchen.jpg"),
        ("gpj.\u202eevil.jpg", "gpj.evil.jpg"),
        ("  \t ", "upload"),
        ("x" * 300 + ".jpg", "x" * 255),
    ],
)
def test_the_recorded_filename_is_a_plain_label(name: str, label: str) -> None:
    assert upload_filename(name) == label


def test_setting_what_already_is_answers_200_and_records_nothing(
    manager: APIClient, service: PropertyService
) -> None:
    prop = create(manager)
    image = uploaded(manager, prop["id"], caption="front")
    head = service.recorder.max_notification_id()
    again = manager.patch(f"/api/images/{image['id']}", {"caption": "front"}, format="json")
    assert again.status_code == 200
    assert service.recorder.max_notification_id() == head


@pytest.fixture
def on_cloudinary(settings: Settings) -> Iterator[FakeCloudinary]:
    """``CLOUDINARY_URL`` set: originals go to (the fake) Cloudinary, not the local disk."""
    with FakeCloudinary() as fake:
        settings.CLOUDINARY_URL = fake.cloudinary_url()
        yield fake


def test_with_cloudinary_the_original_is_kept_there_privately_and_not_on_this_host(
    manager: APIClient, storage: Path, on_cloudinary: FakeCloudinary
) -> None:
    prop = create(manager)
    image = uploaded(manager, prop["id"])
    [original] = on_cloudinary.objects.values()
    assert (original.resource_type, original.type, original.data) == ("raw", "private", ROCKET)
    assert original.public_id == f"cosmo/originals/{hashlib.sha256(ROCKET).hexdigest()}"
    assert stored_blobs(storage) == []
    assert image["status"] == "pending"


def test_with_cloudinary_down_an_upload_is_a_503_and_nothing_is_recorded(
    manager: APIClient, service: PropertyService, on_cloudinary: FakeCloudinary
) -> None:
    prop = create(manager)
    before = head(service)
    on_cloudinary.fail_next(status=503)
    response = upload(manager, prop["id"])
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "1"
    assert error_code(response) == "blob_store_unavailable"
    assert head(service) == before
