"""The composition root: the one place that decides which stores back the application.

Everything else asks here for the service instead of building one, so swapping SQLite for
PostgreSQL is a ``DATABASE_URL`` change and tests can reset the wiring between databases.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.db import connections

from domain.service import PropertyService
from infrastructure.audit_chain import ChainKey
from infrastructure.data_keys import DataKeys, MissingMasterKey
from infrastructure.image_policy import ALL_IMAGES, ImagePolicy, Partition, VariantSpec
from infrastructure.images.blob_store import BlobStore, LocalBlobStore
from infrastructure.images.cloudinary_blob_store import CloudinaryBlobStore
from infrastructure.images.cloudinary_store import AUTHENTICATED, PUBLIC, CloudinaryImageStore
from infrastructure.images.image_store import ImageStore
from infrastructure.images.local_store import LocalImageStore
from infrastructure.persistence import event_store_env
from infrastructure.projection_leases import ProjectionLeases
from infrastructure.signed_note import SigningKey, VerifierKey
from infrastructure.transcoder import OrjsonTranscoder
from infrastructure.transparency_log import TransparencyLog
from infrastructure.wake_up import wake_workers
from infrastructure.workers import PROCESS, Worker
from projections.registry import all_projections
from projections.runner import DEFAULT_BATCH_SIZE

_lock = threading.Lock()
_service: PropertyService | None = None
_image_store: ImageStore | None = None


def property_service() -> PropertyService:
    global _service
    if _service is None:
        with _lock:
            if _service is None:
                env = event_store_env(
                    connections["default"].settings_dict,
                    settings.COSMO_AUDIT_KEY,
                    settings.COSMO_MAX_EVENT_BYTES,
                    settings.COSMO_MASTER_KEY,
                    settings.COSMO_PREVIOUS_MASTER_KEYS,
                )
                _service = PropertyService(env=env)
    return _service


def data_keys() -> DataKeys:
    """The data keys personal fields are sealed under (the event store's own, with its cache)."""
    transcoder = property_service().mapper.transcoder
    cipher = transcoder.cipher if isinstance(transcoder, OrjsonTranscoder) else None
    if cipher is None:
        raise MissingMasterKey("the event store was wired without COSMO_MASTER_KEY")
    return cipher.keys


def blob_store() -> BlobStore:
    """Where uploaded originals live, named by their SHA-256: Cloudinary (private) when
    ``CLOUDINARY_URL`` is set, so any host's worker can read them; the local disk otherwise."""
    if settings.CLOUDINARY_URL:
        return CloudinaryBlobStore(settings.CLOUDINARY_URL, timeout=settings.COSMO_CLOUDINARY_TIMEOUT_SECONDS)
    return LocalBlobStore(settings.BLOB_ROOT)


def image_store() -> ImageStore:
    """Cloudinary when ``CLOUDINARY_URL`` is set, the local disk (served at /media/) otherwise."""
    global _image_store
    if _image_store is None:
        with _lock:
            if _image_store is None:
                _image_store = (
                    CloudinaryImageStore(
                        settings.CLOUDINARY_URL,
                        timeout=settings.COSMO_CLOUDINARY_TIMEOUT_SECONDS,
                        # Private photos: only signed URLs deliver them (api/media_urls.py).
                        delivery=AUTHENTICATED if settings.COSMO_MEDIA_URL_TTL_SECONDS > 0 else PUBLIC,
                        auth_token_key=settings.COSMO_CLOUDINARY_AUTH_TOKEN_KEY,
                    )
                    if settings.CLOUDINARY_URL
                    else LocalImageStore(settings.MEDIA_ROOT / "images", f"{settings.MEDIA_URL}images")
                )
    return _image_store


def image_policy(partition: Partition = ALL_IMAGES) -> ImagePolicy:
    return ImagePolicy(
        property_service(),
        blob_store(),
        image_store(),
        VariantSpec(
            settings.COSMO_IMAGE_WIDTHS,
            settings.COSMO_IMAGE_FORMATS,
            settings.COSMO_MAX_IMAGE_PIXELS,
            settings.COSMO_IMAGE_TARGET_SSIM or None,
        ),
        attempts=settings.COSMO_IMAGE_ATTEMPTS,
        retry_seconds=settings.COSMO_IMAGE_RETRY_SECONDS,
        partition=partition,
    )


def worker(
    partition: Partition = ALL_IMAGES,
    poll_interval: float = 1.0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    stop: threading.Event | None = None,
) -> Worker:
    """The image policy (this partition of it) and every projection, as one background worker.

    On PostgreSQL the projections are leased, so that workers on several hosts share them.
    """
    database = connections["default"]
    leases = ProjectionLeases(database.settings_dict, PROCESS) if database.vendor == "postgresql" else None
    return Worker(
        property_service(),
        all_projections(),
        image_policy(partition),
        poll_interval,
        stop,
        batch_size=batch_size,
        keep_log=keep_transparency_log,
        leases=leases,
    )


def wake_image_workers() -> None:
    """After a photo is recorded: on SQLite, nudge its workers now (PostgreSQL's NOTIFY already does)."""
    database = connections["default"]
    if database.vendor == "sqlite":
        wake_workers(str(database.settings_dict["NAME"]))


def keep_transparency_log() -> None:
    """Each worker round: catch the tree up (a log from before it) and sign a checkpoint when due."""
    transparency_log().keep(settings.COSMO_CHECKPOINT_EVERY_EVENTS, settings.COSMO_CHECKPOINT_EVERY_SECONDS)


def audit_key() -> ChainKey:
    return ChainKey(settings.COSMO_AUDIT_KEY.encode())


def signing_key() -> SigningKey | None:
    """The checkpoint signing key from ``COSMO_AUDIT_SIGNING_KEY`` or ``_FILE``; None when neither is set."""
    if not settings.COSMO_AUDIT_SIGNING_KEY:  # the settings read _FILE into it and checked it
        return None
    return SigningKey.from_text(settings.COSMO_AUDIT_ORIGIN, settings.COSMO_AUDIT_SIGNING_KEY)


def transparency_log() -> TransparencyLog:
    """The Merkle log over the events, with the key that signs its checkpoints and the earlier ones."""
    previous = tuple(VerifierKey.parse(vkey) for vkey in settings.COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS)
    return TransparencyLog(property_service().recorder, signing_key(), settings.COSMO_AUDIT_ORIGIN, previous)


def reset() -> None:
    """Close the event store connections so the next call rewires from the current settings."""
    global _service, _image_store
    with _lock:
        if _service is not None:
            _service.close()
        _service = None
        _image_store = None
