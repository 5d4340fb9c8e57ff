"""The ``property_detail`` projection: each property's photo gallery, in order, with its cover.

Image events fill one :class:`GalleryImage` row per photo; the property's own gallery events
(attached, detached, cover set, reordered) change a :class:`PropertyGallery`, from which the
photos' positions and cover flag are renumbered once at the end of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.image import PropertyImage
from domain.property import Property
from projections.models import GalleryImage, PropertyGallery, ReadModel
from projections.projection import Handler, Projection, RowCache, is_image_event


class PropertyDetailProjection(Projection):
    """Keeps the gallery rows in step with the images' and the properties' events."""

    name = "property_detail"
    version = 1
    models: ClassVar[tuple[type[ReadModel], ...]] = (GalleryImage, PropertyGallery)

    def handlers(self) -> dict[str, Handler]:
        return {
            get_topic(PropertyImage.ImageAdded): self._added,
            get_topic(PropertyImage.ImageCaptionChanged): self._caption_changed,
            get_topic(PropertyImage.ImageProcessed): self._processed,
            get_topic(PropertyImage.ImageProcessingFailed): self._failed,
            get_topic(PropertyImage.ImageRetryRequested): self._retry_requested,
            get_topic(PropertyImage.ImageRemoved): self._removed,
            get_topic(Property.ImageAttached): self._attached,
            get_topic(Property.ImageDetached): self._detached,
            get_topic(Property.CoverImageSet): self._cover_set,
            get_topic(Property.ImagesReordered): self._reordered,
        }

    def start_batch(self, events: Sequence[Any], generation: int) -> None:
        property_events = [event for event in events if not is_image_event(event)]
        self.galleries = RowCache(
            PropertyGallery, "property_id", generation, {event.originator_id for event in property_events}
        )
        # Every photo of a touched gallery is renumbered, so load them all with the batch's own.
        image_ids = {event.originator_id for event in events if is_image_event(event)}
        image_ids |= {UUID(i) for gallery in self.galleries.rows.values() for i in gallery.image_ids}
        image_ids |= {event.image_id for event in property_events if hasattr(event, "image_id")}
        # A photo added in this batch has no row before it.
        image_ids -= {event.originator_id for event in events if isinstance(event, PropertyImage.ImageAdded)}
        self.images = RowCache(GalleryImage, "image_id", generation, image_ids)
        self.touched: set[UUID] = set()

    def finish_batch(self) -> None:
        for property_id in self.touched:
            gallery = self.galleries.get(property_id)
            for position, image_id in enumerate(UUID(i) for i in gallery.image_ids):
                row = self.images.find(image_id)
                if row is None:
                    continue  # removed, and its ImageDetached falls in the next batch
                cover = image_id == gallery.cover_image_id
                if (row.position, row.is_cover) != (position, cover):
                    self.images.update(image_id, position=position, is_cover=cover)
        self.galleries.save()
        self.images.save()

    def _added(self, event: Any) -> None:
        file = event.file
        self.images.add(
            event.originator_id,
            property_id=event.property_id,
            organisation=event.organisation,
            status="pending",
            caption=event.caption,
            filename=file.filename,
            format=file.format,
            width=file.width,
            height=file.height,
            original_bytes=file.bytes,
            variants=[],
            stored_bytes=0,
            failure="",
            attempts=0,
            created_at=event.timestamp,
            updated_at=event.timestamp,
        )

    def _caption_changed(self, event: Any) -> None:
        self._update(event, caption=event.caption)

    def _processed(self, event: Any) -> None:
        self._update(
            event,
            status="ready",
            variants=[variant_json(variant) for variant in event.variants],
            stored_bytes=event.stored_bytes,
            failure="",
            attempts=event.attempts,
        )

    def _failed(self, event: Any) -> None:
        self._update(event, status="failed", failure=event.reason, attempts=event.attempts)

    def _retry_requested(self, event: Any) -> None:
        self._update(event, status="pending", failure="")

    def _removed(self, event: Any) -> None:
        self.images.delete(event.originator_id)

    def _update(self, event: Any, **columns: Any) -> None:
        self.images.update(event.originator_id, updated_at=event.timestamp, **columns)

    # The gallery rules below mirror Property's own: the first photo becomes the cover, and
    # when the cover is detached the first remaining photo takes its place.

    def _attached(self, event: Any) -> None:
        property_id = event.originator_id
        gallery = self.galleries.find(property_id) or self.galleries.add(
            property_id, image_ids=[], cover_image_id=None
        )
        self._change_gallery(
            event,
            image_ids=[*gallery.image_ids, event.image_id.hex],
            cover_image_id=gallery.cover_image_id or event.image_id,
        )

    def _detached(self, event: Any) -> None:
        gallery = self.galleries.get(event.originator_id)
        image_ids = [i for i in gallery.image_ids if i != event.image_id.hex]
        cover = gallery.cover_image_id
        if cover == event.image_id:
            cover = UUID(image_ids[0]) if image_ids else None
        self._change_gallery(event, image_ids=image_ids, cover_image_id=cover)

    def _cover_set(self, event: Any) -> None:
        self._change_gallery(event, cover_image_id=event.image_id)

    def _reordered(self, event: Any) -> None:
        self._change_gallery(event, image_ids=[image_id.hex for image_id in event.image_ids])

    def _change_gallery(self, event: Any, **columns: Any) -> None:
        self.galleries.update(event.originator_id, **columns)
        self.touched.add(event.originator_id)


def variant_json(variant: Any) -> dict[str, Any]:
    return {
        "width": variant.width,
        "height": variant.height,
        "format": variant.format,
        "bytes": variant.bytes,
        "url": variant.url,
    }
