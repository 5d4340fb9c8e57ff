"""Originals on Cloudinary, so that a worker on any host can make the variants of any upload.

Each original is a private raw asset named ``<folder>/originals/<sha256>``: raw, because Cloudinary
keeps raw files byte for byte (the digest must still match when it is read back) and never tries to
decode them; private, because nothing delivers it without a signature made with the API secret.
Reads go through the Upload API's ``download`` endpoint with a signed URL that expires within
minutes (``cloudinary.utils.private_download_url``), so the bytes leave Cloudinary only for a
holder of the secret, and are checked against their name on arrival.

Storing is idempotent: the same bytes get the same name, and an upload with ``overwrite`` makes a
new version of it, whose ``created_at`` is the "stored now" that the orphan sweep goes by. The
listing, the size and the sweep's check use the Admin API, which is rate limited per hour: they
run in ``prune_audit`` only, never on the upload or processing path.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import cloudinary.api  # type: ignore[import-untyped]
import cloudinary.exceptions  # type: ignore[import-untyped]
import cloudinary.uploader  # type: ignore[import-untyped]
import cloudinary.utils  # type: ignore[import-untyped]
import urllib3

from infrastructure.images.blob_store import (
    BlobCorrupted,
    BlobNotFound,
    BlobStore,
    BlobStoreRefused,
    BlobStoreUnavailable,
    digest_of,
    is_digest,
    valid_digest,
)
from infrastructure.images.cloudinary_store import (
    DEFAULT_FOLDER,
    DEFAULT_TIMEOUT_SECONDS,
    CloudinaryConfig,
    classify_error,
    upload,
    valid_folder,
)
from infrastructure.images.image_store import ImageStoreError, TransientStoreError, error_for_status

RAW = "raw"
PRIVATE = "private"
DOWNLOAD_URL_SECONDS = 300  # long enough to start the download, short enough to be useless later


class CloudinaryBlobStore(BlobStore):
    """Originals as private raw assets ``<folder>/originals/<sha256>`` on one Cloudinary account."""

    page_size = 500  # resources a listing asks for at once: the Admin API's largest page

    def __init__(
        self, cloudinary_url: str, *, folder: str = DEFAULT_FOLDER, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self.config = CloudinaryConfig.from_url(cloudinary_url)
        self.prefix = f"{valid_folder(folder)}/originals/"
        self.timeout = timeout
        # No retries here (the image policy retries with backoff), but follow the download's
        # redirect to the delivery network, should the API answer with one.
        no_retries = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=3)
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout), retries=no_retries)

    def public_id(self, digest: str) -> str:
        return self.prefix + valid_digest(digest)

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        public_id = self.public_id(digest)
        try:
            result = upload(self.config, data, public_id, self.timeout, resource_type=RAW, type=PRIVATE)
        except ImageStoreError as e:
            raise _blob_error(e) from e
        if result.get("bytes") not in (None, len(data)):
            kept = result["bytes"]
            raise BlobStoreUnavailable(f"Cloudinary kept {kept} of {len(data)} bytes of {public_id}")
        return digest

    def get(self, digest: str) -> bytes:
        url = cloudinary.utils.private_download_url(
            self.public_id(digest),
            "",  # raw assets have no format to convert to
            resource_type=RAW,
            type=PRIVATE,
            expires_at=int(time.time()) + DOWNLOAD_URL_SECONDS,
            **self.config.call_options(),
        )
        try:
            answer = self._http.request("GET", url)
        except urllib3.exceptions.HTTPError as e:
            raise BlobStoreUnavailable(f"cannot reach Cloudinary for blob {digest}: {e!r}") from e
        if answer.status == 404:
            raise BlobNotFound(f"no blob {digest}")
        if answer.status != 200:
            raise _blob_error(error_for_status(answer.status, f"download of blob {digest} refused"))
        if digest_of(answer.data) != digest:
            raise BlobCorrupted(f"blob {digest} does not match its digest")
        return bytes(answer.data)

    def exists(self, digest: str) -> bool:
        return self._resource(digest) is not None

    def size(self, digest: str) -> int:
        resource = self._resource(digest)
        if resource is None:
            raise BlobNotFound(f"no blob {digest}")
        return int(resource["bytes"])

    def delete(self, digest: str) -> bool:
        public_id = self.public_id(digest)
        try:
            result = cloudinary.uploader.destroy(
                public_id,
                resource_type=RAW,
                type=PRIVATE,
                invalidate=True,
                timeout=self.timeout,
                **self.config.call_options(),
            )
        except cloudinary.exceptions.Error as e:
            raise _blob_error(classify_error(e)) from e
        return bool(result.get("result") == "ok")

    def stored_before(self, moment: datetime) -> Iterator[str]:
        cursor: str | None = None
        while True:
            page = self._admin(
                cloudinary.api.resources,
                resource_type=RAW,
                type=PRIVATE,
                prefix=self.prefix,
                max_results=self.page_size,
                next_cursor=cursor,
            )
            for resource in page.get("resources", []):
                digest = str(resource["public_id"]).removeprefix(self.prefix)
                if is_digest(digest) and _created_at(resource) < moment:
                    yield digest
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def delete_unless_stored_since(self, digest: str, moment: datetime) -> bool:
        """Checked, then deleted: Cloudinary has no conditional delete, so a ``put`` of the same
        bytes landing between the two is lost (the local store has no such window). The sweep's
        grace period (hours, ``prune_audit --orphan-grace-hours``) makes that an upload of the very
        bytes of an orphan within the same second as the sweep."""
        resource = self._resource(digest)
        if resource is None or _created_at(resource) >= moment:
            return False
        return self.delete(digest)

    def _resource(self, digest: str) -> Mapping[str, Any] | None:
        try:
            public_id = self.public_id(digest)
            return self._admin(cloudinary.api.resource, public_id, resource_type=RAW, type=PRIVATE)
        except BlobNotFound:
            return None

    def _admin(self, call: Any, *args: Any, **options: Any) -> Mapping[str, Any]:
        try:
            result = call(*args, timeout=self.timeout, **options, **self.config.call_options())
        except cloudinary.exceptions.NotFound as e:
            raise BlobNotFound(str(e)) from e
        except Exception as e:  # the Admin API raises bare Exception for some statuses
            raise _blob_error(classify_error(e)) from e
        return dict(result)


def _blob_error(error: ImageStoreError) -> BlobStoreUnavailable | BlobStoreRefused:
    """The image store's two kinds of failure, as the blob store's."""
    kind = BlobStoreUnavailable if isinstance(error, TransientStoreError) else BlobStoreRefused
    return kind(error.message)


def _created_at(resource: Mapping[str, Any]) -> datetime:
    return datetime.strptime(str(resource["created_at"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
