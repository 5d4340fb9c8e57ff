"""CloudinaryBlobStore: originals as private raw assets, read back through signed, expiring downloads.

The real SDK talks to the local fake of the service, which checks every signature as Cloudinary does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import cloudinary.utils  # type: ignore[import-untyped]
import pytest
import urllib3

from infrastructure.images.blob_store import (
    BlobCorrupted,
    BlobNotFound,
    BlobStoreRefused,
    BlobStoreUnavailable,
    InvalidDigest,
)
from infrastructure.images.cloudinary_blob_store import PRIVATE, RAW, CloudinaryBlobStore
from tests.fixtures import hard_images as hard
from tests.fixtures.fake_cloudinary import FakeCloudinary

ROCKET = hard.photo("rocket.jpg")
DIGEST = hashlib.sha256(ROCKET).hexdigest()


@pytest.fixture
def server() -> Iterator[FakeCloudinary]:
    with FakeCloudinary() as fake:
        yield fake


@pytest.fixture
def blobs(server: FakeCloudinary) -> CloudinaryBlobStore:
    return CloudinaryBlobStore(server.cloudinary_url(), timeout=0.5)


def age(server: FakeCloudinary, digest: str, by: timedelta) -> None:
    """Make the stored object look as if it had been uploaded ``by`` ago."""
    public_id = f"cosmo/originals/{digest}"
    stored = server.objects[public_id]
    moment = datetime.now(UTC) - by
    server.objects[public_id] = dataclasses.replace(stored, created_at=moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_an_original_is_a_private_raw_upload_named_by_its_digest(
    server: FakeCloudinary, blobs: CloudinaryBlobStore
) -> None:
    assert blobs.put(ROCKET) == DIGEST
    stored = server.objects[f"cosmo/originals/{DIGEST}"]
    assert (stored.resource_type, stored.type, stored.data) == (RAW, PRIVATE, ROCKET)
    [request] = server.requests
    assert (request.method, request.path) == ("POST", f"/v1_1/{server.cloud_name}/raw/upload")
    assert {"signature", "timestamp", "api_key"} <= set(request.params)
    assert (request.params["type"], request.params["overwrite"]) == ("private", "1")


def test_it_is_read_back_byte_for_byte_through_a_signed_expiring_download(
    server: FakeCloudinary, blobs: CloudinaryBlobStore
) -> None:
    blobs.put(ROCKET)
    assert blobs.get(DIGEST) == ROCKET
    download = server.requests[-1]
    assert (download.method, download.path) == ("GET", f"/v1_1/{server.cloud_name}/raw/download")
    assert download.params["public_id"] == f"cosmo/originals/{DIGEST}"
    assert download.params["type"] == "private"
    assert 0 < int(download.params["expires_at"]) - time.time() <= 300
    assert "signature" in download.params


def test_storing_the_same_bytes_again_keeps_one_object_and_marks_it_stored_now(
    server: FakeCloudinary, blobs: CloudinaryBlobStore
) -> None:
    blobs.put(ROCKET)
    age(server, DIGEST, timedelta(days=2))
    blobs.put(ROCKET)
    assert list(server.objects) == [f"cosmo/originals/{DIGEST}"]
    assert list(blobs.stored_before(datetime.now(UTC) - timedelta(days=1))) == []


def test_the_fake_refuses_a_tampered_an_unsigned_or_an_expired_download(
    server: FakeCloudinary, blobs: CloudinaryBlobStore
) -> None:
    blobs.put(ROCKET)
    other = blobs.put(hard.photo("coffee.png"))
    http = urllib3.PoolManager()
    options = {**blobs.config.call_options(), "resource_type": RAW, "type": PRIVATE}

    def url(expires_at: int) -> str:
        return str(
            cloudinary.utils.private_download_url(
                blobs.public_id(DIGEST), "", **options, expires_at=expires_at
            )
        )

    good = url(int(time.time()) + 60)
    assert http.request("GET", good).data == ROCKET
    parts = urlsplit(good)
    params = dict(parse_qsl(parts.query))
    tampered = parts._replace(query=urlencode({**params, "public_id": blobs.public_id(other)})).geturl()
    assert http.request("GET", tampered).status == 401, "a signature opens the one object it names"
    unsigned = parts._replace(query=urlencode({k: v for k, v in params.items() if k != "signature"})).geturl()
    assert http.request("GET", unsigned).status == 401
    assert http.request("GET", url(int(time.time()) - 1)).status == 401, "expired"
    wrong_key = CloudinaryBlobStore(server.cloudinary_url(api_secret="not-the-secret"), timeout=0.5)
    with pytest.raises(BlobStoreRefused):
        wrong_key.get(DIGEST)


def test_a_missing_or_altered_original_is_told_apart(
    server: FakeCloudinary, blobs: CloudinaryBlobStore
) -> None:
    with pytest.raises(BlobNotFound):
        blobs.get(DIGEST)
    blobs.put(ROCKET)
    public_id = f"cosmo/originals/{DIGEST}"
    server.objects[public_id] = dataclasses.replace(server.objects[public_id], data=ROCKET[:-1] + b"\0")
    with pytest.raises(BlobCorrupted):
        blobs.get(DIGEST)
    with pytest.raises(InvalidDigest):
        blobs.get("../../etc/passwd")


def test_exists_size_and_delete(server: FakeCloudinary, blobs: CloudinaryBlobStore) -> None:
    assert not blobs.exists(DIGEST)
    with pytest.raises(BlobNotFound):
        blobs.size(DIGEST)
    blobs.put(ROCKET)
    assert blobs.exists(DIGEST)
    assert blobs.size(DIGEST) == len(ROCKET)
    assert blobs.delete(DIGEST) is True
    assert blobs.delete(DIGEST) is False, "deleting twice is not an error"
    assert server.objects == {}


def test_the_sweep_lists_and_deletes_only_originals_nobody_stored_since(
    server: FakeCloudinary, blobs: CloudinaryBlobStore
) -> None:
    old, fresh = blobs.put(ROCKET), blobs.put(hard.photo("coffee.png"))
    age(server, old, timedelta(hours=3))
    cutoff = datetime.now(UTC) - timedelta(hours=1)
    assert list(blobs.stored_before(cutoff)) == [old]
    assert blobs.delete_unless_stored_since(fresh, cutoff) is False
    blobs.put(ROCKET)  # stored again: no longer an orphan
    assert blobs.delete_unless_stored_since(old, cutoff) is False
    age(server, old, timedelta(hours=3))
    assert blobs.delete_unless_stored_since(old, cutoff) is True
    assert sorted(server.objects) == [f"cosmo/originals/{fresh}"]


def test_the_listing_follows_the_admin_apis_pages(server: FakeCloudinary, blobs: CloudinaryBlobStore) -> None:
    digests = sorted(blobs.put(ROCKET + bytes([n])) for n in range(3))
    for digest in digests:
        age(server, digest, timedelta(hours=1))
    small_pages = CloudinaryBlobStore(server.cloudinary_url(), timeout=0.5)
    small_pages.page_size = 2
    assert sorted(small_pages.stored_before(datetime.now(UTC))) == digests
    listings = [r for r in server.requests if r.path.endswith("/resources/raw/private")]
    assert len(listings) == 2


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_busy_or_failing_service_is_unavailable_not_refused(
    server: FakeCloudinary, blobs: CloudinaryBlobStore, status: int
) -> None:
    server.fail_next(status=status)
    with pytest.raises(BlobStoreUnavailable):
        blobs.put(ROCKET)
    blobs.put(ROCKET)
    server.fail_next(status=status)
    with pytest.raises(BlobStoreUnavailable):
        blobs.get(DIGEST)
    assert blobs.get(DIGEST) == ROCKET


def test_a_hanging_or_absent_service_is_unavailable(
    server: FakeCloudinary, blobs: CloudinaryBlobStore
) -> None:
    blobs.put(ROCKET)
    server.hang_next(seconds=5)
    started = time.monotonic()
    with pytest.raises(BlobStoreUnavailable):
        blobs.get(DIGEST)
    assert time.monotonic() - started < 2
    with FakeCloudinary() as gone:
        url = gone.cloudinary_url()
    with pytest.raises(BlobStoreUnavailable):
        CloudinaryBlobStore(url, timeout=0.5).put(ROCKET)


def test_wrong_credentials_are_refused_for_good(server: FakeCloudinary) -> None:
    wrong = CloudinaryBlobStore(server.cloudinary_url(api_secret="not-the-secret"), timeout=0.5)
    with pytest.raises(BlobStoreRefused, match="Invalid Signature"):
        wrong.put(ROCKET)
    with pytest.raises(BlobStoreRefused):
        wrong.exists(DIGEST)
    assert server.objects == {}
