"""The ``property_list`` projection: the rows behind the property list and detail endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from eventsourcing.utils import get_topic

from domain.property import Property
from projections.models import PropertyListing, ReadModel
from projections.projection import Handler, Projection, RowCache


class PropertyListProjection(Projection):
    """Keeps one :class:`PropertyListing` row per property in step with its events.

    Every event of the Property aggregate moves the row's ``version`` and ``updated_at``, photo
    events included, so the ETag a read shows is always one a PATCH's ``If-Match`` accepts.
    """

    name = "property_list"
    # 2: the gallery events (attached, detached, cover set, reordered) move the version too.
    version = 2
    models: ClassVar[tuple[type[ReadModel], ...]] = (PropertyListing,)

    def handlers(self) -> dict[str, Handler]:
        return {
            get_topic(Property.PropertyRegistered): self._registered,
            get_topic(Property.PropertyRenamed): self._renamed,
            get_topic(Property.AddressCorrected): self._address_corrected,
            get_topic(Property.RentChanged): self._rent_changed,
            get_topic(Property.PropertyArchived): self._archived,
            # The gallery itself is property_detail's; here they only move the version.
            get_topic(Property.ImageAttached): self._update,
            get_topic(Property.ImageDetached): self._update,
            get_topic(Property.CoverImageSet): self._update,
            get_topic(Property.ImagesReordered): self._update,
        }

    def start_batch(self, events: Sequence[Any], generation: int) -> None:
        # A property registered in this batch has no row before it: a registration (the common
        # write) loads nothing.
        registered = {
            event.originator_id for event in events if isinstance(event, Property.PropertyRegistered)
        }
        keys = {event.originator_id for event in events} - registered
        self.rows = RowCache(PropertyListing, "property_id", generation, keys)

    def finish_batch(self) -> None:
        self.rows.save()

    def _registered(self, event: Any) -> None:
        self.rows.add(
            event.originator_id,
            organisation=event.organisation,
            version=event.originator_version,
            name=event.name,
            kind=event.kind.value,
            status=event.status.value,
            created_at=event.timestamp,
            updated_at=event.timestamp,
            **address_columns(event.address),
            **rent_columns(event.rent),
        )

    def _renamed(self, event: Any) -> None:
        self._update(event, name=event.name)

    def _address_corrected(self, event: Any) -> None:
        self._update(event, **address_columns(event.address))

    def _rent_changed(self, event: Any) -> None:
        self._update(event, **rent_columns(event.rent))

    def _archived(self, event: Any) -> None:
        self._update(event, status="archived")

    def _update(self, event: Any, **columns: Any) -> None:
        self.rows.update(
            event.originator_id, version=event.originator_version, updated_at=event.timestamp, **columns
        )


def address_columns(address: Any) -> dict[str, Any]:
    return {
        "street": address.street,
        "city": address.city,
        "postal_code": address.postal_code,
        "country": address.country,
    }


def rent_columns(rent: Any) -> dict[str, Any]:
    if rent is None:
        return {"rent_amount": None, "rent_currency": ""}
    return {"rent_amount": rent.amount, "rent_currency": rent.currency}
