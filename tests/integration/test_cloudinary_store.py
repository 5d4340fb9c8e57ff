"""CloudinaryImageStore: the real SDK, signed uploads, against a local fake of the service."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from typing import Any

import cloudinary  # type: ignore[import-untyped]
import cloudinary.uploader  # type: ignore[import-untyped]
import pytest
import urllib3
from PIL import Image

from infrastructure.images.cloudinary_store import CloudinaryConfig, CloudinaryImageStore
from infrastructure.images.image_store import (
    ImageStoreMisconfigured,
    PermanentStoreError,
    TransientStoreError,
)
from infrastructure.images.variants import Variant, make_variants
from tests.fixtures import hard_images as hard
from tests.fixtures.fake_cloudinary import FakeCloudinary

SHORT_TIMEOUT = 0.5


@pytest.fixture
def server() -> Iterator[FakeCloudinary]:
    with FakeCloudinary() as fake:
        yield fake


@pytest.fixture
def store(server: FakeCloudinary) -> CloudinaryImageStore:
    return CloudinaryImageStore(server.cloudinary_url(), timeout=SHORT_TIMEOUT)


@pytest.fixture(scope="module")
def variants() -> list[Variant]:
    return make_variants(hard.photo("rocket.jpg"), formats=("webp", "jpeg"))


def test_a_signed_upload_is_accepted_and_gives_secure_urls(
    server: FakeCloudinary, store: CloudinaryImageStore, variants: list[Variant]
) -> None:
    image_id = uuid.uuid4()
    stored = store.store(image_id, variants)
    public_ids = [f"cosmo/{image_id}/{v.width}-{v.format}" for v in variants]
    assert sorted(server.objects) == sorted(public_ids)
    for variant, result, public_id in zip(variants, stored, public_ids, strict=True):
        extension = "jpg" if variant.format == "jpeg" else variant.format
        assert result.url.startswith(f"https://res.cloudinary.com/{server.cloud_name}/image/upload/v")
        assert result.url.endswith(f"/{public_id}.{extension}")
        assert (result.width, result.height, result.format) == (variant.width, variant.height, variant.format)
        assert result.size_bytes == variant.size_bytes
        assert server.objects[public_id].data == variant.data
    upload = server.requests[0].params
    assert {"signature", "timestamp", "api_key"} <= set(upload)
    assert (upload["overwrite"], upload["invalidate"]) == ("1", "1")


def test_storing_again_overwrites_the_same_public_ids(
    server: FakeCloudinary, store: CloudinaryImageStore, variants: list[Variant]
) -> None:
    image_id = uuid.uuid4()
    store.store(image_id, variants)
    versions = {public_id: stored.version for public_id, stored in server.objects.items()}
    mirrored = Image.open(io.BytesIO(hard.photo("rocket.jpg"))).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    replacement = make_variants(hard.save(mirrored, "PNG"), formats=("webp", "jpeg"))
    store.store(image_id, replacement)
    assert sorted(server.objects) == sorted(versions)  # same names, no copies
    for public_id, stored in server.objects.items():
        assert stored.version > versions[public_id]
    assert server.objects[f"cosmo/{image_id}/480-webp"].data == replacement[2].data
    assert server.upload_count == 2 * len(variants)


def test_delete_removes_every_variant_of_that_image_and_nothing_else(
    server: FakeCloudinary, store: CloudinaryImageStore, variants: list[Variant]
) -> None:
    kept, removed = uuid.uuid4(), uuid.uuid4()
    store.store(kept, variants[:1])
    store.store(removed, variants)
    store.delete(removed)
    assert list(server.objects) == [f"cosmo/{kept}/{variants[0].width}-webp"]
    store.delete(removed)  # nothing left: not an error


def test_a_wrong_secret_is_refused_for_good(server: FakeCloudinary, variants: list[Variant]) -> None:
    store = CloudinaryImageStore(server.cloudinary_url(api_secret="not-the-secret"), timeout=SHORT_TIMEOUT)
    with pytest.raises(PermanentStoreError, match="Invalid Signature") as refused:
        store.store(uuid.uuid4(), variants[:1])
    assert refused.value.status == 401
    assert not isinstance(refused.value, TransientStoreError)
    with pytest.raises(PermanentStoreError):
        store.delete(uuid.uuid4())
    assert server.objects == {}


def test_an_unknown_api_key_is_refused_for_good(server: FakeCloudinary, variants: list[Variant]) -> None:
    store = CloudinaryImageStore(server.cloudinary_url(api_key="123"), timeout=SHORT_TIMEOUT)
    with pytest.raises(PermanentStoreError, match="Unknown API key"):
        store.store(uuid.uuid4(), variants[:1])


@pytest.mark.parametrize("status", [500, 503, 420, 429])
def test_server_errors_and_rate_limits_are_transient(
    server: FakeCloudinary, store: CloudinaryImageStore, variants: list[Variant], status: int
) -> None:
    server.fail_next(status=status)
    with pytest.raises(TransientStoreError) as failed:
        store.store(uuid.uuid4(), variants[:1])
    assert failed.value.status == status
    store.store(uuid.uuid4(), variants[:1])  # and the next attempt goes through


@pytest.mark.parametrize("status", [400, 403, 404, 413])
def test_other_client_errors_are_permanent(
    server: FakeCloudinary, store: CloudinaryImageStore, variants: list[Variant], status: int
) -> None:
    server.fail_next(status=status)
    with pytest.raises(PermanentStoreError) as failed:
        store.store(uuid.uuid4(), variants[:1])
    assert failed.value.status == status


def test_a_proxy_error_page_instead_of_json_is_transient(
    server: FakeCloudinary, store: CloudinaryImageStore, variants: list[Variant]
) -> None:
    server.answer_html_next(status=502)
    with pytest.raises(TransientStoreError) as failed:
        store.store(uuid.uuid4(), variants[:1])
    assert failed.value.status == 502


def test_a_server_that_hangs_is_given_up_on_after_the_timeout_as_transient(
    server: FakeCloudinary, store: CloudinaryImageStore, variants: list[Variant]
) -> None:
    server.hang_next(seconds=10)
    started = time.monotonic()
    with pytest.raises(TransientStoreError, match="timed out"):
        store.store(uuid.uuid4(), variants[:1])
    assert time.monotonic() - started < SHORT_TIMEOUT + 1.5


def test_a_server_that_is_down_is_transient(variants: list[Variant]) -> None:
    with FakeCloudinary() as gone:
        url = gone.cloudinary_url()
    with pytest.raises(TransientStoreError, match="cannot reach"):
        CloudinaryImageStore(url, timeout=SHORT_TIMEOUT).store(uuid.uuid4(), variants[:1])


def test_delete_failures_are_classified_too(server: FakeCloudinary) -> None:
    store = CloudinaryImageStore(server.cloudinary_url(), timeout=0.2)
    server.fail_next(status=503)
    with pytest.raises(TransientStoreError):
        store.delete(uuid.uuid4())
    server.fail_next(status=429)
    with pytest.raises(TransientStoreError):
        store.delete(uuid.uuid4())
    server.hang_next(times=4, seconds=10)  # urllib3 retries an idempotent DELETE three times
    with pytest.raises(TransientStoreError):
        store.delete(uuid.uuid4())


def test_two_stores_keep_their_own_credentials_and_leave_the_global_config_alone(
    variants: list[Variant],
) -> None:
    global_secret = cloudinary.config().api_secret
    with (
        FakeCloudinary(cloud_name="first", api_secret="first-secret") as first,
        FakeCloudinary(cloud_name="second", api_secret="second-secret") as second,
    ):
        one = CloudinaryImageStore(first.cloudinary_url(), timeout=SHORT_TIMEOUT)
        two = CloudinaryImageStore(second.cloudinary_url(), timeout=SHORT_TIMEOUT)
        image_id = uuid.uuid4()
        one.store(image_id, variants[:1])
        two.store(image_id, variants[:1])
        one.store(image_id, variants[:1])
        assert first.upload_count == 2
        assert second.upload_count == 1
    assert cloudinary.config().api_secret == global_secret


def test_the_fake_refuses_a_stale_timestamp_and_a_tampered_request_as_cloudinary_does(
    server: FakeCloudinary,
) -> None:
    http = urllib3.PoolManager()
    url = f"{server.base_url}/v1_1/{server.cloud_name}/image/upload"
    file = ("file", hard.photo("rocket.jpg"), "application/octet-stream")

    def post(params: dict[str, str], signed: dict[str, str]) -> urllib3.BaseHTTPResponse:
        fields: dict[str, Any] = {**params, "signature": server.signature_for(signed), "file": file}
        fields["api_key"] = server.api_key
        return http.request("POST", url, fields=fields)

    stale = {"public_id": "x", "timestamp": str(int(time.time()) - 3601)}
    answer = post(stale, stale)
    assert answer.status == 400
    assert "Stale request" in answer.json()["error"]["message"]
    fresh = {"public_id": "x", "timestamp": str(int(time.time()))}
    answer = post({**fresh, "public_id": "someone-elses"}, fresh)
    assert answer.status == 401
    assert "Invalid Signature" in answer.json()["error"]["message"]
    answer = post(fresh, fresh)
    assert answer.status == 200
    shape = {"public_id", "version", "signature", "width", "height", "format", "secure_url", "bytes"}
    assert shape <= set(answer.json())


def test_the_fake_checks_destroy_signatures_too(server: FakeCloudinary, store: CloudinaryImageStore) -> None:
    image_id = uuid.uuid4()
    (variant,) = make_variants(hard.photo("rocket.jpg"), widths=(480,))
    store.store(image_id, [variant])
    public_id = store.public_id(image_id, variant)
    wrong = {**store.config.call_options(), "api_secret": "nope", "return_error": True}
    assert cloudinary.uploader.destroy(public_id, **wrong)["error"]["http_code"] == 401
    right = store.config.call_options()
    assert cloudinary.uploader.destroy(public_id, **right)["result"] == "ok"
    assert cloudinary.uploader.destroy(public_id, **right)["result"] == "not found"
    assert server.objects == {}


@pytest.mark.parametrize(
    "url",
    [
        "",
        "https://key:secret@cloud",
        "cloudinary://key@cloud",
        "cloudinary://:secret@cloud",
        "cloudinary://key:secret@",
        "cloudinary://key:secret@cloud?signature_version=2",
        "cloudinary://key:secret@cloud?signature_algorithm=md5",
        "cloudinary://key:secret@cloud?upload_prefix=ftp://example.org",
    ],
)
def test_unusable_cloudinary_urls_are_refused_when_the_store_is_built(url: str) -> None:
    with pytest.raises(ImageStoreMisconfigured):
        CloudinaryImageStore(url)


def test_the_config_keeps_the_cloud_names_case_and_hides_the_secret() -> None:
    config = CloudinaryConfig.from_url("cloudinary://123:s3cr3t@MyCloud?upload_prefix=http://127.0.0.1:9/")
    assert (config.cloud_name, config.api_key, config.upload_prefix) == (
        "MyCloud",
        "123",
        "http://127.0.0.1:9",
    )
    assert "s3cr3t" not in repr(config)
