"""The Property aggregate: a building or plot that an organisation manages."""

from __future__ import annotations

from eventsourcing.domain import event

from domain.audit import AuditContext
from domain.audited import AuditedAggregate
from domain.errors import (
    InvalidName,
    InvalidOrganisation,
    NothingChanged,
    PropertyArchived,
    PropertyNotFound,
)
from domain.values import MAX_TEXT_LENGTH, Address, PropertyKind, PropertyStatus, Rent


def valid_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise InvalidName("name must not be empty", field="name")
    if len(cleaned) > MAX_TEXT_LENGTH:
        raise InvalidName(f"name is longer than {MAX_TEXT_LENGTH} characters", field="name")
    return cleaned


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

    @event("PropertyRegistered", topic="cosmo.property.registered")
    def __init__(
        self,
        organisation: str,
        name: str,
        kind: PropertyKind,
        address: Address,
        rent: Rent | None,
    ) -> None:
        self.organisation = organisation
        self.name = name
        self.kind = kind
        self.address = address
        self.rent = rent
        self.status = PropertyStatus.ACTIVE

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
        return cls(organisation=organisation, name=valid_name(name), kind=kind, address=address, rent=rent)

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
        self._record_archived(reason.strip())

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
