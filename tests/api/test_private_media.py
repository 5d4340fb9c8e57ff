"""Private photos (COSMO_MEDIA_URL_TTL_SECONDS): local variant URLs are signed when rendered for a
client, expire, and are checked by the media view before it looks for the file."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit
from uuid import UUID, uuid4

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from api import media_urls
from domain.audit import acting_as
from domain.image import ImageVariant
from domain.service import PropertyService
from infrastructure import composition
from infrastructure.images.cloudinary_store import AUTHENTICATED, CloudinaryImageStore
from infrastructure.images.image_store import ImageStoreMisconfigured
from infrastructure.images.variants import Variant, make_variants
from tests.api.conftest import create
from tests.api.test_cover import detail, listed, project, upload
from tests.fixtures.fake_cloudinary import FakeCloudinary
from tests.fixtures.image_outcomes import next_tracking, policy_context, record_processed
from tests.fixtures.tiny_png import tiny_png

TTL = 600


@pytest.fixture(autouse=True)
def private(settings: Settings, tmp_path: Path) -> Path:
    settings.BLOB_ROOT = tmp_path / "blobs"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.COSMO_MEDIA_URL_TTL_SECONDS = TTL
    return tmp_path / "media"


@pytest.fixture
def ready(manager: APIClient, service: PropertyService, private: Path) -> dict[str, Any]:
    """A property whose one photo is ready, with its variant files on disk."""
    prop = create(manager)
    image_id = upload(manager, prop["id"])
    record_processed(service, UUID(image_id))  # /media/images/<id>/480.webp and 240.webp
    project(service)
    for width in (480, 240):
        file = private / "images" / image_id / f"{width}.webp"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(f"RIFF{width}WEBP".encode())
    return {"property": prop, "image_id": image_id}


def gallery_urls(client: APIClient, property_id: str) -> list[str]:
    [image] = client.get(f"/api/properties/{property_id}/images").json()["results"]
    return [variant["url"] for variant in image["variants"]]


def fetch(url: str) -> Any:
    parts = urlsplit(url)
    return APIClient().get(parts.path, dict(parse_qs(parts.query)))


def test_every_rendered_variant_url_carries_an_expiry_and_a_signature(
    manager: APIClient, ready: dict[str, Any]
) -> None:
    prop_id = ready["property"]["id"]
    cover = detail(manager, prop_id)["cover"]
    urls = [cover["url"], *(v["url"] for v in cover["variants"]), *gallery_urls(manager, prop_id)]
    urls.append(listed(manager)[prop_id]["cover"]["url"])
    now = time.time()
    for url in urls:
        parts = urlsplit(url)
        assert parts.path.startswith(f"/media/images/{ready['image_id']}/")
        query = parse_qs(parts.query)
        assert set(query) == {"expires", "signature"}
        assert now + TTL <= int(query["expires"][0]) <= now + TTL * 1.1 + 1


def test_a_signed_url_serves_the_file_privately_for_no_longer_than_it_lives(
    manager: APIClient, ready: dict[str, Any]
) -> None:
    url = gallery_urls(manager, ready["property"]["id"])[0]
    response = fetch(url)
    assert response.status_code == 200
    assert response.getvalue() == b"RIFF480WEBP"
    visibility, max_age = response["Cache-Control"].split(", ")
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    assert visibility == "private"
    assert 0 < int(max_age.removeprefix("max-age=")) <= expires - time.time() + 1


def test_two_reads_in_a_row_give_the_same_urls_so_client_caches_still_hit(
    manager: APIClient, ready: dict[str, Any]
) -> None:
    prop_id = ready["property"]["id"]
    assert gallery_urls(manager, prop_id) == gallery_urls(manager, prop_id)


def test_the_plain_path_is_refused_once_photos_are_private(ready: dict[str, Any]) -> None:
    response = APIClient().get(f"/media/images/{ready['image_id']}/480.webp")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "media_url_unsigned"


def test_an_expired_url_is_refused(ready: dict[str, Any]) -> None:
    path = f"/media/images/{ready['image_id']}/480.webp"
    stale = media_urls.for_client(path, now=time.time() - 2 * TTL)
    response = fetch(stale)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "media_url_expired"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda q: {**q, "signature": "0" * 64}, id="made-up signature"),
        pytest.param(lambda q: {**q, "expires": str(int(q["expires"]) + 86400)}, id="extended expiry"),
        pytest.param(lambda q: {**q, "expires": "9" * 40}, id="expiry beyond 64 bits"),
        pytest.param(lambda q: {**q, "expires": "-1"}, id="negative expiry"),
        pytest.param(lambda q: {"expires": q["expires"]}, id="no signature"),
    ],
)
def test_a_forged_or_altered_url_is_a_json_403(ready: dict[str, Any], forge: Any) -> None:
    path = f"/media/images/{ready['image_id']}/480.webp"
    query = {k: v[0] for k, v in parse_qs(urlsplit(media_urls.for_client(path)).query).items()}
    response = APIClient().get(path, forge(query))
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] in {"media_url_invalid", "media_url_unsigned"}


def test_a_signature_for_one_variant_does_not_open_another(ready: dict[str, Any]) -> None:
    small = urlsplit(media_urls.for_client(f"/media/images/{ready['image_id']}/240.webp"))
    response = APIClient().get(f"/media/images/{ready['image_id']}/480.webp?{small.query}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "media_url_invalid"


def test_a_url_signed_under_another_secret_key_is_refused(settings: Settings, ready: dict[str, Any]) -> None:
    url = media_urls.for_client(f"/media/images/{ready['image_id']}/480.webp")
    settings.SECRET_KEY = "another-secret-key-of-another-deployment-0123456789"
    assert fetch(url).status_code == 403


def test_the_signature_is_checked_before_the_file_is_looked_for(private: Path) -> None:
    """A forged URL learns nothing: a missing file and a present one both answer 403."""
    query = urlencode({"expires": int(time.time()) + TTL, "signature": "f" * 64})
    response = APIClient().get(f"/media/images/00000000-0000-0000-0000-000000000000/480.webp?{query}")
    assert response.status_code == 403


def test_a_signed_url_to_a_deleted_photo_is_a_404(ready: dict[str, Any], private: Path) -> None:
    url = media_urls.for_client(f"/media/images/{ready['image_id']}/480.webp")
    (private / "images" / ready["image_id"] / "480.webp").unlink()
    assert fetch(url).status_code == 404


def test_with_private_photos_off_urls_stay_plain_and_public(
    settings: Settings, manager: APIClient, ready: dict[str, Any]
) -> None:
    settings.COSMO_MEDIA_URL_TTL_SECONDS = 0
    urls = gallery_urls(manager, ready["property"]["id"])
    assert all(not urlsplit(url).query for url in urls)
    response = fetch(urls[0])
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=3600"


# Cloudinary: authenticated delivery, signed (and, with a token key, expiring) URLs.

TOKEN_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def cloudinary() -> Iterator[FakeCloudinary]:
    with FakeCloudinary() as fake:
        yield fake


@pytest.fixture(scope="module")
def photo_variants() -> list[Variant]:
    return make_variants(tiny_png(), formats=("webp",))


def private_store(server: FakeCloudinary, key: str = "") -> CloudinaryImageStore:
    return CloudinaryImageStore(server.cloudinary_url(), delivery=AUTHENTICATED, auth_token_key=key)


def test_private_photos_are_uploaded_for_authenticated_delivery_only(
    cloudinary: FakeCloudinary, photo_variants: list[Variant]
) -> None:
    [stored] = private_store(cloudinary).store(uuid4(), photo_variants)
    assert cloudinary.requests[0].params["type"] == "authenticated"
    assert stored.url.startswith(
        f"https://res.cloudinary.com/{cloudinary.cloud_name}/image/authenticated/s--"
    )


def test_without_a_token_key_the_store_signs_urls_exactly_as_cloudinary_does(
    cloudinary: FakeCloudinary, photo_variants: list[Variant]
) -> None:
    store = private_store(cloudinary)
    [stored] = store.store(uuid4(), photo_variants)
    assert store.client_url(stored.url, int(time.time()) + TTL) == stored.url


def test_with_a_token_key_cloudinary_urls_expire_when_the_api_says(
    cloudinary: FakeCloudinary, photo_variants: list[Variant]
) -> None:
    store = private_store(cloudinary, TOKEN_KEY)
    [stored] = store.store(uuid4(), photo_variants)
    expires = int(time.time()) + TTL
    signed = urlsplit(store.client_url(stored.url, expires))
    token = parse_qs(signed.query)["__cld_token__"][0]
    fields = dict(part.split("=", 1) for part in token.split("~"))
    assert fields["exp"] == str(expires)
    # What Cloudinary's edge checks: HMAC-SHA256, under the token key, of the expiry and the
    # escaped path; the token replaces the s--…-- signature.
    message = f"exp={expires}~url={quote(signed.path, safe='').replace('%2F', '%2f')}".encode()
    assert fields["hmac"] == hmac.new(bytes.fromhex(TOKEN_KEY), message, hashlib.sha256).hexdigest()
    assert f"{signed.scheme}://{signed.netloc}{signed.path}" == without_signature(stored.url)


def without_signature(url: str) -> str:
    return re.sub(r"/s--[A-Za-z0-9_-]+--/", "/", url)


def test_public_uploads_and_other_clouds_urls_are_left_as_they_are(cloudinary: FakeCloudinary) -> None:
    store = private_store(cloudinary, TOKEN_KEY)
    for url in (
        f"https://res.cloudinary.com/{cloudinary.cloud_name}/image/upload/v1/cosmo/x/480-webp.webp",
        "https://res.cloudinary.com/another-cloud/image/authenticated/v1/cosmo/x/480-webp.webp",
    ):
        assert store.client_url(url, int(time.time()) + TTL) == url


def test_deleting_a_photo_removes_it_whichever_delivery_it_was_stored_for(
    cloudinary: FakeCloudinary, photo_variants: list[Variant]
) -> None:
    image_id = uuid4()
    CloudinaryImageStore(cloudinary.cloudinary_url()).store(image_id, photo_variants)
    assert cloudinary.objects
    private_store(cloudinary).delete(image_id)
    assert not cloudinary.objects


@pytest.mark.parametrize(("delivery", "key"), [("private", ""), (AUTHENTICATED, "not-hex")])
def test_an_unusable_private_delivery_configuration_is_refused(
    cloudinary: FakeCloudinary, delivery: str, key: str
) -> None:
    with pytest.raises(ImageStoreMisconfigured):
        CloudinaryImageStore(cloudinary.cloudinary_url(), delivery=delivery, auth_token_key=key)


def test_the_api_hands_out_expiring_cloudinary_urls_for_private_photos(
    monkeypatch: pytest.MonkeyPatch,
    cloudinary: FakeCloudinary,
    photo_variants: list[Variant],
    manager: APIClient,
    service: PropertyService,
) -> None:
    store = private_store(cloudinary, TOKEN_KEY)
    monkeypatch.setattr(composition, "_image_store", store)
    prop = create(manager)
    image_id = upload(manager, prop["id"])
    stored = store.store(UUID(image_id), photo_variants)
    with acting_as(policy_context()):
        service.record_image_processed(
            UUID(image_id),
            [ImageVariant(s.width, s.height, s.format, s.size_bytes, s.url) for s in stored],
            1,
            next_tracking(service),
        )
    project(service)
    url = urlsplit(detail(manager, prop["id"])["cover"]["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == without_signature(stored[0].url)
    expires = int(dict(p.split("=", 1) for p in parse_qs(url.query)["__cld_token__"][0].split("~"))["exp"])
    assert time.time() + TTL <= expires <= time.time() + TTL * 1.1 + 1


def test_with_private_photos_a_property_read_is_never_a_304_that_would_keep_expiring_urls(
    settings: Settings, manager: APIClient, ready: dict[str, Any]
) -> None:
    prop_id = ready["property"]["id"]
    etag = manager.get(f"/api/properties/{prop_id}")["ETag"]
    again = manager.get(f"/api/properties/{prop_id}", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200
    assert again["ETag"] == etag, "still the version, for If-Match"
    assert parse_qs(urlsplit(again.json()["cover"]["url"]).query)["signature"]
    settings.COSMO_MEDIA_URL_TTL_SECONDS = 0
    assert manager.get(f"/api/properties/{prop_id}", HTTP_IF_NONE_MATCH=etag).status_code == 304
