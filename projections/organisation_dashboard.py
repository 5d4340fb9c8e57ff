"""The ``organisation_dashboard`` projection: counts per organisation for the managers' overview."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from eventsourcing.utils import get_topic

from domain.image import PropertyImage
from domain.property import Property
from projections.models import DashboardImage, DashboardProperty, OrganisationDashboard, ReadModel
from projections.projection import Handler, Projection, RowCache, is_image_event

# The image statuses the dashboard counts, and the column that counts each.
IMAGE_COUNTERS = {"pending": "images_pending", "failed": "images_failed"}
_CREATIONS = (Property.PropertyRegistered, PropertyImage.ImageAdded)


class OrganisationDashboardProjection(Projection):
    """Archiving and image outcomes name only their aggregate, so the projection keeps owners."""

    name = "organisation_dashboard"
    inline = False
    version = 2
    models: ClassVar[tuple[type[ReadModel], ...]] = (OrganisationDashboard, DashboardProperty, DashboardImage)

    def handlers(self) -> dict[str, Handler]:
        return {
            get_topic(Property.PropertyRegistered): self._registered,
            get_topic(Property.PropertyArchived): self._archived,
            get_topic(PropertyImage.ImageAdded): self._image_added,
            get_topic(PropertyImage.ImageProcessed): lambda event: self._image_became(event, "ready"),
            get_topic(PropertyImage.ImageProcessingFailed): lambda event: self._image_became(event, "failed"),
            get_topic(PropertyImage.ImageRetryRequested): lambda event: self._image_became(event, "pending"),
            get_topic(PropertyImage.ImageRemoved): self._image_removed,
        }

    def start_batch(self, events: Sequence[Any], generation: int) -> None:
        # A property or photo whose first event is in this batch has no row before it: a rebuild's
        # batches, made mostly of whole stories, load little.
        created = {e.originator_id for e in events if isinstance(e, _CREATIONS)}
        self.owners = RowCache(
            DashboardProperty,
            "property_id",
            generation,
            {e.originator_id for e in events if not is_image_event(e)} - created,
        )
        self.images = RowCache(
            DashboardImage,
            "image_id",
            generation,
            {e.originator_id for e in events if is_image_event(e)} - created,
        )
        organisations = {getattr(e, "organisation", None) for e in events}
        organisations |= {owner.organisation for owner in self.owners.rows.values()}
        organisations |= {image.organisation for image in self.images.rows.values()}
        self.counts = RowCache(OrganisationDashboard, "organisation", generation, organisations - {None})

    def finish_batch(self) -> None:
        self.owners.save()
        self.images.save()
        self.counts.save()

    def _registered(self, event: Any) -> None:
        self.owners.add(event.originator_id, organisation=event.organisation)
        row = self._counts(event.organisation)
        self.counts.update(event.organisation, active_properties=row.active_properties + 1)

    def _archived(self, event: Any) -> None:
        organisation = self.owners.get(event.originator_id).organisation
        row = self.counts.get(organisation)
        self.counts.update(
            organisation,
            active_properties=row.active_properties - 1,
            archived_properties=row.archived_properties + 1,
        )

    def _image_added(self, event: Any) -> None:
        self.images.add(event.originator_id, organisation=event.organisation, status="pending")
        self._count_image(event.organisation, "pending", +1)

    def _image_became(self, event: Any, status: str) -> None:
        image = self.images.get(event.originator_id)
        self._count_image(image.organisation, image.status, -1)
        self._count_image(image.organisation, status, +1)
        self.images.update(event.originator_id, status=status)

    def _image_removed(self, event: Any) -> None:
        image = self.images.get(event.originator_id)
        self._count_image(image.organisation, image.status, -1)
        self.images.delete(event.originator_id)

    def _count_image(self, organisation: str, status: str, delta: int) -> None:
        column = IMAGE_COUNTERS.get(status)
        if column is not None:
            row = self._counts(organisation)
            self.counts.update(organisation, **{column: getattr(row, column) + delta})

    def _counts(self, organisation: str) -> OrganisationDashboard:
        return self.counts.find(organisation) or self.counts.add(organisation)
