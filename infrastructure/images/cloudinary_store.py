"""Variants on Cloudinary, through the official SDK's signed Upload API.

Every call carries its own credentials and endpoint, so two stores (or a test's fake server and a
real account) never share the SDK's global configuration. Public ids are derived from the image
id, the width and the format (Cloudinary ids carry no extension, so a WebP and a JPEG of one width
need two), and uploads overwrite: a retry replaces, it never duplicates. The SDK does not retry
5xx or read timeouts on uploads; this adapter does not either. It only classifies.

Private photos use Cloudinary's authenticated delivery: variants are uploaded with
``type="authenticated"``, which Cloudinary serves only through signed URLs (``s--…--``, made with
the API secret, so a client cannot derive one URL from another). Such a signature does not expire;
with a token key (Cloudinary's token-based access, ``auth_token_key``) the URLs also carry a
``__cld_token__`` that does, at the expiry the API chose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import cloudinary.api  # type: ignore[import-untyped]
import cloudinary.exceptions  # type: ignore[import-untyped]
import cloudinary.uploader  # type: ignore[import-untyped]
import cloudinary.utils  # type: ignore[import-untyped]
import urllib3.exceptions

from infrastructure.images.image_store import (
    ImageStore,
    ImageStoreError,
    ImageStoreMisconfigured,
    PermanentStoreError,
    StoredVariant,
    TransientStoreError,
    error_for_status,
)
from infrastructure.images.variants import Variant

DEFAULT_FOLDER = "cosmo"
DEFAULT_TIMEOUT_SECONDS = 30.0
_SIGNATURE_ALGORITHMS = frozenset({"sha1", "sha256"})
_MAX_DELETE_PAGES = 20  # 1,000 public ids a page: far more than one image has
# "Error 401 - …" (Admin API) or "Error parsing server response (502) - …" (a non-JSON answer).
_STATUS_IN_MESSAGE = re.compile(r"^Error (\d{3}) - |^Error parsing server response \((\d{3})\)")
_FOLDER = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")
PUBLIC, AUTHENTICATED = "upload", "authenticated"
# A delivery URL as an upload answers it: https://res.cloudinary.com/<cloud>/image/<type>/
# [s--<signature>--/][v<version>/]<public id>.<format>
_DELIVERY_URL = re.compile(
    r"https://res\.cloudinary\.com/(?P<cloud>[^/]+)/image/(?P<type>upload|authenticated)/"
    r"(?:s--[A-Za-z0-9_-]+--/)?(?:v(?P<version>[0-9]+)/)?(?P<public_id>[^?#]+)\.(?P<format>[a-z0-9]+)"
)
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")


@dataclass(frozen=True, slots=True)
class CloudinaryConfig:
    """The parts of a ``CLOUDINARY_URL`` this adapter uses; the secret stays out of ``repr``."""

    cloud_name: str
    api_key: str
    api_secret: str = field(repr=False)
    upload_prefix: str | None = None
    signature_algorithm: str = "sha1"

    @classmethod
    def from_url(cls, url: str) -> CloudinaryConfig:
        """Parse ``cloudinary://key:secret@cloud_name?upload_prefix=…&signature_algorithm=…``.

        Other query parameters are refused rather than guessed at: the SDK would take them as
        strings (``signature_version=2`` breaks signing that way).
        """
        parts = urlsplit(url.strip())
        if parts.scheme != "cloudinary":
            raise ImageStoreMisconfigured("CLOUDINARY_URL must start with cloudinary://")
        if not (parts.username and parts.password and parts.hostname):
            raise ImageStoreMisconfigured("CLOUDINARY_URL must be cloudinary://API_KEY:API_SECRET@CLOUD_NAME")
        query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        unknown = sorted(set(query) - {"upload_prefix", "signature_algorithm"})
        if unknown:
            raise ImageStoreMisconfigured(f"CLOUDINARY_URL has parameters this store does not use: {unknown}")
        algorithm = query.get("signature_algorithm", "sha1").lower()
        if algorithm not in _SIGNATURE_ALGORITHMS:
            raise ImageStoreMisconfigured(f"signature_algorithm must be sha1 or sha256, not {algorithm!r}")
        prefix = query.get("upload_prefix") or None
        if prefix is not None and urlsplit(prefix).scheme not in ("http", "https"):
            raise ImageStoreMisconfigured(f"upload_prefix must be an http(s) URL, not {prefix!r}")
        # The cloud name is case-sensitive; urlsplit's hostname is lower-cased, the netloc is not.
        cloud_name = parts.netloc.rpartition("@")[2].split(":")[0]
        return cls(
            cloud_name=cloud_name,
            api_key=parts.username,
            api_secret=parts.password,
            upload_prefix=prefix.rstrip("/") if prefix else None,
            signature_algorithm=algorithm,
        )

    def call_options(self) -> dict[str, Any]:
        """Everything the SDK would otherwise read from its global configuration."""
        return {
            "cloud_name": self.cloud_name,
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "upload_prefix": self.upload_prefix,
            "signature_algorithm": self.signature_algorithm,
            "signature_version": 2,
            "oauth_token": None,
        }


class CloudinaryImageStore(ImageStore):
    """Uploads each variant as ``<folder>/<image_id>/<width>-<format>``; deletes by that prefix."""

    def __init__(
        self,
        cloudinary_url: str,
        *,
        folder: str = DEFAULT_FOLDER,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        delivery: str = PUBLIC,
        auth_token_key: str = "",
    ) -> None:
        if timeout <= 0:
            raise ImageStoreMisconfigured(f"timeout must be positive, not {timeout}")
        if delivery not in (PUBLIC, AUTHENTICATED):
            raise ImageStoreMisconfigured(f"delivery must be {PUBLIC} or {AUTHENTICATED}, not {delivery!r}")
        if auth_token_key and not _HEX.fullmatch(auth_token_key):
            raise ImageStoreMisconfigured("the Cloudinary token key must be hex (token-based access)")
        self.config = CloudinaryConfig.from_url(cloudinary_url)
        self.folder = valid_folder(folder)
        self.timeout = timeout
        self.delivery = delivery
        self._auth_token_key = auth_token_key

    def public_id(self, image_id: UUID, variant: Variant) -> str:
        return f"{self._prefix(image_id)}{variant.width}-{variant.format}"

    def store(self, image_id: UUID, variants: Sequence[Variant]) -> list[StoredVariant]:
        return [self._upload(image_id, variant) for variant in variants]

    def delete(self, image_id: UUID) -> None:
        """Delete every resource under the image's prefix, including any that a failed attempt
        uploaded before giving up (no event recorded those), of both delivery types: photos
        uploaded before private photos were turned on or off keep the type they were stored
        with. This is the Admin API: it counts against the account's hourly Admin API limit
        (two calls a photo), and urllib3 retries a timed-out DELETE three times, so a hung server
        costs four timeouts here."""
        for delivery in (PUBLIC, AUTHENTICATED):
            self._delete_by_prefix(image_id, delivery)

    def client_url(self, url: str, expires: int) -> str:
        """An authenticated variant's URL signed for delivery (and expiring, with a token key);
        any other URL (a public upload's, another cloud's) is given back as it is."""
        found = _DELIVERY_URL.fullmatch(url)
        if found is None or found["type"] != AUTHENTICATED or found["cloud"] != self.config.cloud_name:
            return url
        token = {"key": self._auth_token_key, "expiration": expires} if self._auth_token_key else False
        signed, _ = cloudinary.utils.cloudinary_url(
            found["public_id"],
            type=AUTHENTICATED,
            resource_type="image",
            format=found["format"],
            version=found["version"],
            sign_url=True,
            secure=True,
            auth_token=token,
            cloud_name=self.config.cloud_name,
            api_secret=self.config.api_secret,
            signature_algorithm=self.config.signature_algorithm,
        )
        return str(signed)

    def _delete_by_prefix(self, image_id: UUID, delivery: str) -> None:
        options = {**self.config.call_options(), "timeout": self.timeout}
        cursor: str | None = None
        for _ in range(_MAX_DELETE_PAGES):
            try:
                result = cloudinary.api.delete_resources_by_prefix(
                    self._prefix(image_id), invalidate=True, next_cursor=cursor, type=delivery, **options
                )
            except Exception as e:  # the Admin API raises bare Exception for some statuses
                raise classify_error(e) from e
            cursor = result.get("next_cursor") if result.get("partial") else None
            if not cursor:
                return
        raise TransientStoreError(f"resources of {image_id} still left after {_MAX_DELETE_PAGES} pages")

    def _prefix(self, image_id: UUID) -> str:
        return f"{self.folder}/{UUID(str(image_id))}/"

    def _upload(self, image_id: UUID, variant: Variant) -> StoredVariant:
        public_id = self.public_id(image_id, variant)
        result = upload(
            self.config,
            variant.data,
            public_id,
            self.timeout,
            invalidate=True,
            resource_type="image",
            type=self.delivery,
        )
        url = result.get("secure_url")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise TransientStoreError(f"the upload of {public_id} answered without a secure_url")
        return StoredVariant(
            url=url,
            width=variant.width,
            height=variant.height,
            format=variant.format,
            size_bytes=int(result.get("bytes") or variant.size_bytes),
        )


def upload(
    config: CloudinaryConfig, data: bytes, public_id: str, timeout: float, **options: Any
) -> Mapping[str, Any]:
    """One signed upload that overwrites ``public_id``, its answer checked: whatever the SDK raised
    or the API refused comes out as a :class:`TransientStoreError` or :class:`PermanentStoreError`.

    Shared by the variants' store and the originals' blob store, which differ only in ``options``
    (resource type, delivery type, CDN invalidation).
    """
    try:
        result = cloudinary.uploader.upload(
            data,
            public_id=public_id,
            overwrite=True,
            unique_filename=False,
            timeout=timeout,
            return_error=True,
            **options,
            **config.call_options(),
        )
    except cloudinary.exceptions.Error as e:
        raise classify_error(e) from e
    if not isinstance(result, Mapping):
        raise TransientStoreError(f"unexpected answer to the upload of {public_id}: {result!r}")
    if "error" in result:
        error = result["error"]
        status = int(error.get("http_code") or 500)
        raise error_for_status(status, f"upload of {public_id} refused: {error.get('message', '')}")
    return result


def valid_folder(folder: str) -> str:
    if not _FOLDER.fullmatch(folder):
        raise ImageStoreMisconfigured(f"folder must be path segments of letters, digits, - and _: {folder!r}")
    return folder


def classify_error(error: BaseException) -> ImageStoreError:
    """Map what the SDK raised to our two kinds, by the network error or HTTP status behind it."""
    # Transport failures: the SDK wraps them and the original stays as the context.
    cause = error.__cause__ or error.__context__
    if isinstance(cause, urllib3.exceptions.HTTPError | OSError):
        return TransientStoreError(f"cannot reach Cloudinary: {cause!r}")
    message = str(error)
    if match := _STATUS_IN_MESSAGE.search(message):
        return error_for_status(int(match.group(1) or match.group(2)), message)
    if isinstance(error, cloudinary.exceptions.RateLimited):
        return TransientStoreError(f"rate limited: {message}", status=429)
    if isinstance(error, ValueError):  # the SDK's word for missing configuration
        return PermanentStoreError(f"misconfigured: {message}")
    return TransientStoreError(f"unexpected Cloudinary error: {message}")
