"""The ``property_list`` projection: the rows behind the property list and detail endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from projections.models import PropertyListing


class PropertyListProjection:
    """Keeps one :class:`PropertyListing` row per property in step with its events."""

    name = "property_list"
    version = 1

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[Any], None]] = {
            "cosmo.property.registered": self._registered,
            "cosmo.property.renamed": self._renamed,
            "cosmo.property.address_corrected": self._address_corrected,
            "cosmo.property.rent_changed": self._rent_changed,
            "cosmo.property.archived": self._archived,
        }

    def _registered(self, event: Any) -> None:
        PropertyListing.objects.create(
            id=event.originator_id,
            organisation=event.organisation,
            version=event.originator_version,
            name=event.name,
            kind=event.kind.value,
            status="active",
            created_at=event.timestamp,
            updated_at=event.timestamp,
            **_address_columns(event.address),
            **_rent_columns(event.rent),
        )

    def _renamed(self, event: Any) -> None:
        self._update(event, name=event.name)

    def _address_corrected(self, event: Any) -> None:
        self._update(event, **_address_columns(event.address))

    def _rent_changed(self, event: Any) -> None:
        self._update(event, **_rent_columns(event.rent))

    def _archived(self, event: Any) -> None:
        self._update(event, status="archived")

    @staticmethod
    def _update(event: Any, **columns: Any) -> None:
        PropertyListing.objects.filter(id=event.originator_id).update(
            version=event.originator_version, updated_at=event.timestamp, **columns
        )


def _address_columns(address: Any) -> dict[str, Any]:
    return {
        "street": address.street,
        "city": address.city,
        "postal_code": address.postal_code,
        "country": address.country,
    }


def _rent_columns(rent: Any) -> dict[str, Any]:
    if rent is None:
        return {"rent_amount": None, "rent_currency": ""}
    return {"rent_amount": rent.amount, "rent_currency": rent.currency}
