"""The application service: one method per use case, the only way state changes.

Each method loads, acts, saves and returns a :class:`Receipt` (id, version, global position),
so callers can answer with an ETag and wait for read models without reloading anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.audit import current_audit_context
from domain.errors import NothingChanged, NotPermitted, PropertyNotFound, VersionConflict
from domain.property import Property
from domain.values import Address, PropertyKind, Rent

_UNSET: Any = object()


@dataclass(frozen=True)
class Receipt:
    """What a caller learns from a successful command."""

    id: UUID
    version: int
    position: int | None


@dataclass(frozen=True)
class PropertyChanges:
    """The fields a caller wants changed; ``None`` for name/address means "leave as is".

    ``rent`` distinguishes "leave as is" (the default) from "remove the rent" (``None``).
    """

    name: str | None = None
    address: Address | None = None
    rent: Rent | None = _UNSET

    @property
    def changes_rent(self) -> bool:
        return self.rent is not _UNSET


def _unless_unchanged(command: Callable[[Any], None], value: Any) -> None:
    with suppress(NothingChanged):
        command(value)


class PropertyService(Application[UUID]):
    """Commands and time-travel queries on properties, each checked against the caller."""

    name = "Cosmo"

    def register_property(
        self,
        *,
        name: str,
        kind: PropertyKind,
        address: Address,
        rent: Rent | None = None,
    ) -> Receipt:
        context = current_audit_context()
        self._check_may_write()
        prop = Property.register(context.organisation, name, kind, address, rent)
        return self._save(prop)

    def update_property(
        self, property_id: UUID, changes: PropertyChanges, expected_version: int | None
    ) -> Receipt:
        """Apply every requested change that differs, as one atomic save of several events.

        A request that changes nothing records nothing and returns the current version.
        """
        prop = self._load_for_change(property_id, expected_version)
        prop.check_not_archived()
        if changes.name is not None:
            _unless_unchanged(prop.rename, changes.name)
        if changes.address is not None:
            _unless_unchanged(prop.correct_address, changes.address)
        if changes.changes_rent:
            _unless_unchanged(prop.change_rent, changes.rent)
        return self._save(prop)

    def archive_property(self, property_id: UUID, expected_version: int | None, reason: str = "") -> Receipt:
        prop = self._load_for_change(property_id, expected_version)
        prop.archive(reason)
        return self._save(prop)

    def get_property(self, property_id: UUID, version: int | None = None) -> Property:
        """The property as it is now, or as it was at ``version``, replayed from its events."""
        try:
            prop: Property = self.repository.get(property_id, version=version)
        except AggregateNotFoundError:
            raise PropertyNotFound(f"property {property_id} not found") from None
        prop.check_visible_to(current_audit_context())
        if version is not None and prop.version != version:
            raise PropertyNotFound(f"property {property_id} has no version {version}")
        return prop

    def get_property_as_of(self, property_id: UUID, moment: datetime) -> Property:
        """The property as it was at ``moment``: the last version recorded at or before it."""
        latest = self.get_property(property_id)
        version = None
        for domain_event in cast("Iterator[Property.Event]", self.events.get(property_id)):
            if domain_event.timestamp > moment:
                break
            version = domain_event.originator_version
        if version is None:
            raise PropertyNotFound(f"property {property_id} did not exist at {moment.isoformat()}")
        return latest if version == latest.version else self.get_property(property_id, version)

    def _check_may_write(self) -> None:
        if not current_audit_context().may_write:
            raise NotPermitted("this role may read but not change anything")

    def _load_for_change(self, property_id: UUID, expected_version: int | None) -> Property:
        self._check_may_write()
        prop = self.get_property(property_id)
        if expected_version is not None and expected_version != prop.version:
            raise VersionConflict(
                f"property {property_id} is at version {prop.version}, not {expected_version}"
            )
        return prop

    def _save(self, prop: Property) -> Receipt:
        try:
            recordings = self.save(prop)
        except IntegrityError:
            raise VersionConflict(
                f"property {prop.id} was changed by someone else; reload and try again"
            ) from None
        position = recordings[-1].notification.id if recordings else None
        return Receipt(id=prop.id, version=prop.version, position=position)
