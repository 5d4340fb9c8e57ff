"""The Property aggregate: a building or plot that an organisation manages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from domain.audit import AuditContext
from domain.audited import AuditedAggregate
from domain.errors import (
    ImageNotFound,
    InvalidImageOrder,
    InvalidName,
    InvalidOrganisation,
    NothingChanged,
    PropertyArchived,
    PropertyNotFound,
)
from domain.values import Address, PropertyKind, PropertyStatus, Rent, clean_text

MAX_REASON_LENGTH = 1000


def valid_name(name: str) -> str:
    return clean_text(name, "name", error=InvalidName)


class Property(AuditedAggregate):
    """A property's whole life as events: registered, renamed, moved, re-let, archived.

    Public methods check the rules and refuse no-op changes; the ``_record_*`` methods only
    apply an event, so replaying history never re-runs validation that may have changed since.
    """

    TOPIC = "cosmo.property"

    class Event(AuditedAggregate.Event):
        TOPIC = "cosmo.property.event"

    class Created(Event, AuditedAggregate.Created):
        TOPIC = "cosmo.property.created"

    class PropertyRegistered(Created):
        """Version 2 states the status the property starts in, so that no reader assumes it.

        Stored events are never rewritten: a version 1 event (recorded before the field existed)
        is upcast as it is read, with the status every property then started in.
        """

        TOPIC = "cosmo.property.registered"
        class_version = 2
        organisation: str
        name: str
        kind: PropertyKind
        address: Address
        rent: Rent | None
        status: PropertyStatus

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["status"] = PropertyStatus.ACTIVE

    if TYPE_CHECKING:  # made by the @event decorators below; declared for the code that names them
        ImageAttached: ClassVar[type[Event]]
        ImageDetached: ClassVar[type[Event]]
        CoverImageSet: ClassVar[type[Event]]
        ImagesReordered: ClassVar[type[Event]]
        PropertyRenamed: ClassVar[type[Event]]
        AddressCorrected: ClassVar[type[Event]]
        RentChanged: ClassVar[type[Event]]
        PropertyArchived: ClassVar[type[Event]]

    @event(PropertyRegistered)
    def __init__(
        self,
        organisation: str,
        name: str,
        kind: PropertyKind,
        address: Address,
        rent: Rent | None,
        status: PropertyStatus,
    ) -> None:
        self.organisation = organisation
        self.name = name
        self.kind = kind
        self.address = address
        self.rent = rent
        self.status = status
        self.image_ids: list[UUID] = []
        self.cover_image_id: UUID | None = None

    @classmethod
    def register(
        cls,
        organisation: str,
        name: str,
        kind: PropertyKind,
        address: Address,
        rent: Rent | None,
    ) -> Property:
        if not organisation.strip():
            raise InvalidOrganisation("a property must belong to an organisation")
        return cls(
            organisation=organisation,
            name=valid_name(name),
            kind=kind,
            address=address,
            rent=rent,
            status=PropertyStatus.ACTIVE,
        )

    def check_not_archived(self) -> None:
        if self.status is PropertyStatus.ARCHIVED:
            raise PropertyArchived(f"property {self.id} is archived and cannot be changed")

    def check_visible_to(self, context: AuditContext) -> None:
        """Another organisation's property looks exactly like a missing one."""
        if not context.sees_all_organisations and context.organisation != self.organisation:
            raise PropertyNotFound(f"property {self.id} not found")

    def rename(self, name: str) -> None:
        self.check_not_archived()
        name = valid_name(name)
        if name == self.name:
            raise NothingChanged("the name is already " + repr(name), field="name")
        self._record_renamed(name)

    def correct_address(self, address: Address) -> None:
        self.check_not_archived()
        if address == self.address:
            raise NothingChanged("the address is unchanged", field="address")
        self._record_address_corrected(address)

    def change_rent(self, rent: Rent | None) -> None:
        self.check_not_archived()
        if rent == self.rent:
            raise NothingChanged("the rent is unchanged", field="rent")
        self._record_rent_changed(rent)

    def archive(self, reason: str = "") -> None:
        self.check_not_archived()
        self._record_archived(clean_text(reason, "reason", max_length=MAX_REASON_LENGTH, required=False))

    def attach_image(self, image_id: UUID) -> None:
        self.check_not_archived()
        self._record_image_attached(image_id)

    def detach_image(self, image_id: UUID) -> None:
        """Removing a photo is allowed even once archived: it may have to go for legal reasons."""
        if image_id in self.image_ids:
            self._record_image_detached(image_id)

    def set_cover(self, image_id: UUID) -> None:
        self.check_not_archived()
        if image_id not in self.image_ids:
            raise ImageNotFound(f"image {image_id} is not a photo of property {self.id}", field="image_id")
        if image_id == self.cover_image_id:
            raise NothingChanged("that image is already the cover", field="image_id")
        self._record_cover_set(image_id)

    def reorder_images(self, image_ids: list[UUID]) -> None:
        self.check_not_archived()
        if sorted(image_ids) != sorted(self.image_ids) or len(set(image_ids)) != len(image_ids):
            raise InvalidImageOrder(
                "image_ids must list every photo of the property exactly once", field="image_ids"
            )
        if image_ids == self.image_ids:
            raise NothingChanged("the photos are already in that order", field="image_ids")
        self._record_images_reordered(image_ids)

    @event("ImageAttached", topic="cosmo.property.image_attached")
    def _record_image_attached(self, image_id: UUID) -> None:
        self.image_ids = [*self.image_ids, image_id]
        if self.cover_image_id is None:
            self.cover_image_id = image_id

    @event("ImageDetached", topic="cosmo.property.image_detached")
    def _record_image_detached(self, image_id: UUID) -> None:
        self.image_ids = [other for other in self.image_ids if other != image_id]
        if self.cover_image_id == image_id:
            self.cover_image_id = self.image_ids[0] if self.image_ids else None

    @event("CoverImageSet", topic="cosmo.property.cover_image_set")
    def _record_cover_set(self, image_id: UUID) -> None:
        self.cover_image_id = image_id

    @event("ImagesReordered", topic="cosmo.property.images_reordered")
    def _record_images_reordered(self, image_ids: list[UUID]) -> None:
        self.image_ids = list(image_ids)

    @event("PropertyRenamed", topic="cosmo.property.renamed")
    def _record_renamed(self, name: str) -> None:
        self.name = name

    @event("AddressCorrected", topic="cosmo.property.address_corrected")
    def _record_address_corrected(self, address: Address) -> None:
        self.address = address

    @event("RentChanged", topic="cosmo.property.rent_changed")
    def _record_rent_changed(self, rent: Rent | None) -> None:
        self.rent = rent

    @event("PropertyArchived", topic="cosmo.property.archived")
    def _record_archived(self, reason: str) -> None:
        self.status = PropertyStatus.ARCHIVED
