"""``when_image_added_compress_and_store``: the policy that turns uploads into stored variants.

It follows the event stream for ``ImageAdded`` (and ``ImageRetryRequested``), makes the variants
with Pillow, stores them through the configured ``ImageStore`` and records the outcome as
``ImageProcessed`` or ``ImageProcessingFailed``. Its position is saved by the same transaction as
the outcome (the recorder's tracking), and an image that is no longer pending is skipped, so a
crash at any point neither loses an image nor records it twice. Uploads are idempotent (the store
overwrites per image id), which covers a crash between upload and record. When a photo is
removed (``ImageRemoved``), its variants are deleted from the store as well.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from domain.audit import AuditContext, Role, acting_as
from domain.errors import ImageNotFound, VersionConflict
from domain.image import ImageVariant, PropertyImage
from domain.service import PropertyService, Receipt
from infrastructure.images.blob_store import BlobStore, BlobStoreError, BlobStoreUnavailable
from infrastructure.images.image_store import (
    ImageStore,
    PermanentStoreError,
    StoredVariant,
    TransientStoreError,
)
from infrastructure.images.upload_checks import ImageRejected
from infrastructure.images.variants import InvalidVariantRequest, make_variants
from infrastructure.metrics import IMAGE_PROCESSING_SECONDS
from infrastructure.read_replica import replica_configured
from projections.inline import apply_recorded
from projections.registry import inline_projections
from projections.runner import DATABASE_UNAVAILABLE

logger = logging.getLogger(__name__)

TRIGGERS = [
    get_topic(PropertyImage.ImageAdded),
    get_topic(PropertyImage.ImageRetryRequested),
    get_topic(PropertyImage.ImageRemoved),
]
REMOVED = get_topic(PropertyImage.ImageRemoved)
POLICY_NAME = "image_policy"
SAVE_ATTEMPTS = 3


@dataclass(frozen=True)
class Partition:
    """``K/N``: this worker handles the images whose id falls in slot K of N, and no other."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Partition:
        index, _, count = text.partition("/")
        partition = cls(int(index), int(count))
        if not 0 <= partition.index < partition.count:
            raise ValueError(f"partition must be K/N with 0 <= K < N, not {text!r}")
        return partition

    def owns(self, image_id: UUID) -> bool:
        return image_id.int % self.count == self.index

    @property
    def tracking_name(self) -> str:
        return POLICY_NAME if self.count == 1 else f"{POLICY_NAME}-{self.index}-of-{self.count}"


ALL_IMAGES = Partition()


@dataclass(frozen=True)
class VariantSpec:
    widths: tuple[int, ...]
    formats: tuple[str, ...]
    max_pixels: int
    target_ssim: float | None = None  # None: fixed qualities; else each variant's is searched for


class ProcessingFailed(Exception):
    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts


class ImagePolicy:
    def __init__(
        self,
        app: PropertyService,
        blobs: BlobStore,
        store: ImageStore,
        spec: VariantSpec,
        *,
        attempts: int = 3,
        retry_seconds: float = 1.0,
        partition: Partition = ALL_IMAGES,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.app = app
        self.blobs = blobs
        self.store = store
        self.spec = spec
        self.attempts = attempts
        self.retry_seconds = retry_seconds
        self.partition = partition
        self.sleep = sleep

    @property
    def position(self) -> int:
        return self.app.recorder.max_tracking_id(self.partition.tracking_name) or 0  # type: ignore[attr-defined]

    def run_once(self, batch_size: int = 10) -> int:
        """Handle the next triggers after our position; return how many images were handled."""
        notifications = self.app.recorder.select_notifications(
            start=self.position, limit=batch_size, topics=TRIGGERS, inclusive_of_start=False
        )
        handled = 0
        for notification in notifications:
            tracking = Tracking(self.partition.tracking_name, notification.id)
            trigger: Any = self.app.mapper.to_domain_event(notification)
            if not self.partition.owns(trigger.originator_id):
                self._skip(tracking)
            elif notification.topic == REMOVED:
                self._delete_variants(trigger.originator_id)
                self._skip(tracking)
            elif self._handle(trigger, tracking):
                handled += 1
            else:
                self._skip(tracking)
        return handled

    def _handle(self, trigger: Any, tracking: Tracking) -> bool:
        """Process one image; False when there was nothing to do (already done, or removed)."""
        image_id: UUID = trigger.originator_id
        with acting_as(self._context(trigger, tracking)):
            image = self._pending_image(image_id)
            if image is None:
                return False
            started = time.perf_counter()
            try:
                stored, attempts = self._compress_and_store(image)
            except ProcessingFailed as failed:
                IMAGE_PROCESSING_SECONDS.labels("failed").observe(time.perf_counter() - started)
                reason, tries = failed.reason, failed.attempts
                logger.warning("image processing failed", extra={"image_id": str(image_id), "reason": reason})
                return self._record(lambda: self.app.record_image_failed(image_id, reason, tries, tracking))
            IMAGE_PROCESSING_SECONDS.labels("processed").observe(time.perf_counter() - started)
            variants = [ImageVariant(s.width, s.height, s.format, s.size_bytes, s.url) for s in stored]
            logger.info("image processed", extra={"image_id": str(image_id), "variants": len(variants)})
            return self._record(
                lambda: self.app.record_image_processed(image_id, variants, attempts, tracking)
            )

    def _pending_image(self, image_id: UUID) -> PropertyImage | None:
        try:
            image = self.app.get_image(image_id)
        except ImageNotFound:
            return None
        return image if image.awaits_processing else None

    def _compress_and_store(self, image: PropertyImage) -> tuple[list[StoredVariant], int]:
        try:
            original = self._original(image)
            variants = make_variants(
                original,
                self.spec.widths,
                self.spec.formats,
                max_pixels=self.spec.max_pixels,
                target_ssim=self.spec.target_ssim,
            )
        except (BlobStoreError, ImageRejected, InvalidVariantRequest) as error:
            raise ProcessingFailed(f"cannot make variants: {error}", attempts=1) from error
        except Exception as error:
            # A bug, not bad luck: record it (a retry is one POST away) rather than stall the policy.
            logger.exception("unexpected error making variants", extra={"image_id": str(image.id)})
            raise ProcessingFailed(f"internal error: {type(error).__name__}: {error}", attempts=1) from error
        for attempt in range(1, self.attempts + 1):
            try:
                return self.store.store(image.id, variants), attempt
            except PermanentStoreError as error:
                raise ProcessingFailed(f"storage refused the image: {error}", attempts=attempt) from error
            except TransientStoreError as error:
                if attempt == self.attempts:
                    raise ProcessingFailed(
                        f"storage still failing after {attempt} attempts: {error}", attempts=attempt
                    ) from error
                logger.info(
                    "image store busy, retrying", extra={"image_id": str(image.id), "attempt": attempt}
                )
                self.sleep(self.retry_seconds * 2 ** (attempt - 1))
        raise AssertionError("unreachable: the loop returns or raises")

    def _original(self, image: PropertyImage) -> bytes:
        """The upload's bytes; a remote blob store that is busy or unreachable is asked again."""
        for attempt in range(1, self.attempts + 1):
            try:
                return self.blobs.get(image.file.sha256)
            except BlobStoreUnavailable:
                if attempt == self.attempts:
                    raise
                logger.info(
                    "blob store busy, retrying", extra={"image_id": str(image.id), "attempt": attempt}
                )
                self.sleep(self.retry_seconds * 2 ** (attempt - 1))
        raise AssertionError("unreachable: the loop returns or raises")

    def _delete_variants(self, image_id: UUID) -> None:
        """A removed photo's variants go too; deleting is idempotent, so a replay is harmless."""
        for attempt in range(1, self.attempts + 1):
            try:
                self.store.delete(image_id)
                logger.info("image variants deleted", extra={"image_id": str(image_id)})
                return
            except TransientStoreError:
                if attempt < self.attempts:
                    self.sleep(self.retry_seconds * 2 ** (attempt - 1))
            except PermanentStoreError as error:
                logger.error(
                    "image variants not deleted", extra={"image_id": str(image_id), "error": str(error)}
                )
                return
        logger.error("image variants not deleted: storage kept failing", extra={"image_id": str(image_id)})

    def _record(self, save: Callable[[], Receipt]) -> bool:
        """Save the outcome, then project it; a concurrent change (a caption, say) only means
        saving again."""
        for _ in range(SAVE_ATTEMPTS):
            try:
                receipt = save()
            except VersionConflict:
                continue
            except ImageNotFound:
                return False
            self._project(receipt)
            return True
        raise VersionConflict("the image kept changing while its outcome was being recorded")

    @staticmethod
    def _project(receipt: Receipt) -> None:
        """The outcome's events in hand go straight into the inline read models, as a write's do
        (docs/adr/0017): a client polling for ``ready`` sees it now, not once the worker's round
        has caught every projection up from the store (~50-90 ms later on PostgreSQL, measured).
        A read model not right before the events, or a database failure, is left to that
        catch-up."""
        with suppress(*DATABASE_UNAVAILABLE):
            apply_recorded(inline_projections(), receipt.recorded, wait_for_flush=replica_configured())

    def _skip(self, tracking: Tracking) -> None:
        """Move past a trigger that needs nothing from this worker, so it is not read again."""
        self.app.recorder.insert_events([], tracking=tracking)

    @staticmethod
    def _context(trigger: Any, tracking: Tracking) -> AuditContext:
        """The policy acts for the system, caused by the trigger and correlated with its request."""
        return AuditContext(
            actor_id="system:image-policy",
            username="image-policy",
            role=Role.SYSTEM,
            organisation=trigger.audit.organisation,
            request_id=trigger.audit.request_id,
            causation_id=f"position:{tracking.notification_id}",
        )
