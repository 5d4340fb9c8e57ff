"""The PropertyImage aggregate: one photo of a property, from upload to stored variants.

Only facts about the photo are recorded (digest, size, dimensions, format); the bytes live in a
blob store, so events stay small and the record never holds personal metadata such as GPS tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from domain.audited import AuditedAggregate
from domain.errors import ImageNotFailed, ImageNotFound, NothingChanged
from domain.values import clean_text

MAX_CAPTION_LENGTH = 500


class ImageStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    REMOVED = "removed"


@dataclass(frozen=True)
class ImageFile:
    """What an upload was, as checked at the door: never the bytes themselves."""

    sha256: str
    bytes: int
    width: int
    height: int
    format: str
    filename: str


@dataclass(frozen=True)
class ImageVariant:
    """One stored rendition of a photo, as clients fetch it."""

    width: int
    height: int
    format: str
    bytes: int
    url: str


def valid_caption(caption: str) -> str:
    return clean_text(caption, "caption", max_length=MAX_CAPTION_LENGTH, required=False)


class PropertyImage(AuditedAggregate):
    """Added by a manager; processed (or failed) by the image policy; captioned; removed."""

    TOPIC = "cosmo.image"

    class Event(AuditedAggregate.Event):
        TOPIC = "cosmo.image.event"

    class Created(Event, AuditedAggregate.Created):
        TOPIC = "cosmo.image.created"

    if TYPE_CHECKING:  # made by the @event decorators below; declared for the code that names them
        ImageAdded: ClassVar[type[Event]]
        ImageCaptionChanged: ClassVar[type[Event]]
        ImageProcessed: ClassVar[type[Event]]
        ImageProcessingFailed: ClassVar[type[Event]]
        ImageRetryRequested: ClassVar[type[Event]]
        ImageRemoved: ClassVar[type[Event]]

    @event("ImageAdded", topic="cosmo.image.added")
    def __init__(self, property_id: UUID, organisation: str, file: ImageFile, caption: str) -> None:
        self.property_id = property_id
        self.organisation = organisation
        self.file = file
        self.caption = caption
        self.status = ImageStatus.PENDING
        self.variants: list[ImageVariant] = []
        self.stored_bytes = 0
        self.failure = ""
        self.attempts = 0

    @classmethod
    def add(cls, property_id: UUID, organisation: str, file: ImageFile, caption: str) -> PropertyImage:
        return cls(
            property_id=property_id, organisation=organisation, file=file, caption=valid_caption(caption)
        )

    def check_not_removed(self) -> None:
        """A removed image is gone for every purpose but the record."""
        if self.status is ImageStatus.REMOVED:
            raise ImageNotFound(f"image {self.id} not found")

    @property
    def awaits_processing(self) -> bool:
        return self.status is ImageStatus.PENDING

    def change_caption(self, caption: str) -> None:
        self.check_not_removed()
        caption = valid_caption(caption)
        if caption == self.caption:
            raise NothingChanged("the caption is unchanged", field="caption")
        self._record_caption_changed(caption)

    def record_processed(self, variants: list[ImageVariant], attempts: int) -> None:
        self.check_not_removed()
        stored = sum(variant.bytes for variant in variants)
        ratio = round(self.file.bytes / stored, 2) if stored else 0.0
        self._record_processed(variants, self.file.bytes, stored, ratio, attempts)

    def record_failed(self, reason: str, attempts: int) -> None:
        self.check_not_removed()
        self._record_failed(reason[:1000], attempts)

    def request_retry(self) -> None:
        self.check_not_removed()
        if self.status is not ImageStatus.FAILED:
            raise ImageNotFailed(
                f"image {self.id} is {self.status.value}; only a failed image can be retried"
            )
        self._record_retry_requested()

    def remove(self) -> None:
        self.check_not_removed()
        self._record_removed()

    @event("ImageCaptionChanged", topic="cosmo.image.caption_changed")
    def _record_caption_changed(self, caption: str) -> None:
        self.caption = caption

    @event("ImageProcessed", topic="cosmo.image.processed")
    def _record_processed(
        self,
        variants: list[ImageVariant],
        original_bytes: int,
        stored_bytes: int,
        ratio: float,
        attempts: int,
    ) -> None:
        self.status = ImageStatus.READY
        self.variants = list(variants)
        self.stored_bytes = stored_bytes
        self.failure = ""
        self.attempts = attempts

    @event("ImageProcessingFailed", topic="cosmo.image.processing_failed")
    def _record_failed(self, reason: str, attempts: int) -> None:
        self.status = ImageStatus.FAILED
        self.failure = reason
        self.attempts = attempts

    @event("ImageRetryRequested", topic="cosmo.image.retry_requested")
    def _record_retry_requested(self) -> None:
        self.status = ImageStatus.PENDING
        self.failure = ""

    @event("ImageRemoved", topic="cosmo.image.removed")
    def _record_removed(self) -> None:
        self.status = ImageStatus.REMOVED
