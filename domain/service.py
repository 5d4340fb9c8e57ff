"""The application service: one method per use case, the only way state changes.

Each method loads, acts, saves and returns a :class:`Receipt` (id, version, global position),
so callers can answer with an ETag and wait for read models without reloading anything.

A command that names no expected version means "apply to the current state": when someone else
saved first, it is run again on the new state (bounded), instead of failing with a conflict.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Tracking

from domain.audit import Role, current_audit_context
from domain.audited import AuditedAggregate
from domain.erasure import SubjectErasure
from domain.errors import (
    ImageNotFound,
    InvalidValue,
    NothingChanged,
    NotPermitted,
    PropertyNotFound,
    SubjectAlreadyErased,
    VersionConflict,
)
from domain.image import ImageFile, ImageVariant, PropertyImage
from domain.property import Property
from domain.retention import MetadataExpiry, Removal, RetentionRun
from domain.values import Address, PropertyKind, Rent

_UNSET: Any = object()
MAX_ATTEMPTS = 50  # sixteen writers on one aggregate, each losing to the others, still get through
BACKOFF_SECONDS = 0.005
MAX_BACKOFF_SECONDS = 0.2


class _ConcurrentSave(VersionConflict):
    """Someone else saved one of the aggregates first: safe to rerun a command that named no version."""


@dataclass(frozen=True)
class Receipt:
    """What a caller learns from a successful command.

    ``aggregate`` is the acted-on aggregate as saved (at ``version``), and ``recorded`` the
    ``(position, event)`` pairs the save recorded, in order: callers answer and update read
    models from what they hold instead of reading back what they just wrote.
    """

    id: UUID
    version: int
    position: int | None
    aggregate: AuditedAggregate | None = field(default=None, compare=False, repr=False)
    recorded: tuple[tuple[int, Any], ...] = field(default=(), compare=False, repr=False)


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
    """Asking for what already is records nothing and is not an error: retries stay safe."""
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

        def attempt() -> Receipt:
            prop = self._load_for_change(property_id, expected_version)
            prop.check_not_archived()
            if changes.name is not None:
                _unless_unchanged(prop.rename, changes.name)
            if changes.address is not None:
                _unless_unchanged(prop.correct_address, changes.address)
            if changes.changes_rent:
                _unless_unchanged(prop.change_rent, changes.rent)
            return self._save(prop)

        return self._run(attempt, expected_version)

    def archive_property(self, property_id: UUID, expected_version: int | None, reason: str = "") -> Receipt:
        def attempt() -> Receipt:
            prop = self._load_for_change(property_id, expected_version)
            prop.archive(reason)
            return self._save(prop)

        return self._run(attempt, expected_version)

    def add_image(self, property_id: UUID, file: ImageFile, caption: str = "") -> Receipt:
        """Record a checked upload; the image policy picks it up from the ``ImageAdded`` event."""

        def attempt() -> Receipt:
            prop = self._load_for_change(property_id, None)
            image = PropertyImage.add(prop.id, prop.organisation, file, caption)
            prop.attach_image(image.id)
            return self._save(image, prop)

        return self._run(attempt)

    def change_image_caption(self, image_id: UUID, caption: str) -> Receipt:
        def attempt() -> Receipt:
            image = self._load_image_for_change(image_id)
            _unless_unchanged(image.change_caption, caption)
            return self._save(image)

        return self._run(attempt)

    def remove_image(self, image_id: UUID) -> Receipt:
        def attempt() -> Receipt:
            image = self._load_image_for_change(image_id)
            prop = self._load_for_change(image.property_id, None)
            image.remove()
            prop.detach_image(image.id)
            return self._save(image, prop)

        return self._run(attempt)

    def retry_image(self, image_id: UUID) -> Receipt:
        def attempt() -> Receipt:
            image = self._load_image_for_change(image_id)
            image.request_retry()
            return self._save(image)

        return self._run(attempt)

    def set_cover_image(self, property_id: UUID, image_id: UUID) -> Receipt:
        def attempt() -> Receipt:
            prop = self._load_for_change(property_id, None)
            _unless_unchanged(prop.set_cover, image_id)
            return self._save(prop)

        return self._run(attempt)

    def reorder_images(self, property_id: UUID, image_ids: list[UUID]) -> Receipt:
        def attempt() -> Receipt:
            prop = self._load_for_change(property_id, None)
            _unless_unchanged(prop.reorder_images, image_ids)
            return self._save(prop)

        return self._run(attempt)

    def record_image_processed(
        self, image_id: UUID, variants: list[ImageVariant], attempts: int, tracking: Tracking
    ) -> Receipt:
        """Called by the image policy; ``tracking`` is its position, saved with the event."""
        image = self._get_image(image_id)
        image.record_processed(variants, attempts)
        return self._save(image, tracking=tracking)

    def record_image_failed(self, image_id: UUID, reason: str, attempts: int, tracking: Tracking) -> Receipt:
        image = self._get_image(image_id)
        image.record_failed(reason, attempts)
        return self._save(image, tracking=tracking)

    def record_retention_run(
        self,
        days: int,
        dry_run: bool,
        originals: Removal,
        orphans: Removal,
        expired_metadata: MetadataExpiry | None = None,
    ) -> Receipt:
        """A retention run, dry or not: who removed which originals (recorded even if none),
        which orphaned blobs and which periods' request metadata (if any), under which rule,
        saved as one aggregate."""
        self._check_may_write()
        run = RetentionRun(days, originals.before, dry_run, originals.sha256s, originals.bytes_freed)
        if orphans.sha256s:
            run.remove_orphaned_blobs(orphans.before, orphans.sha256s, orphans.bytes_freed)
        if expired_metadata is not None and expired_metadata.periods:
            run.expire_request_metadata(expired_metadata.before, expired_metadata.periods)
        return self._save(run)

    def record_erasure(self, subject_id: str, ground: str, unshreddable_events: int) -> Receipt:
        """The erasure of a data subject, once: a second one for the same subject is refused."""
        if current_audit_context().role not in (Role.ADMIN, Role.SYSTEM):
            raise NotPermitted("only an administrator may erase a data subject")
        if not ground.strip():
            raise InvalidValue("an erasure must state its ground", field="ground")
        erasure = SubjectErasure(subject_id, ground.strip(), unshreddable_events)
        try:
            return self._save(erasure)
        except _ConcurrentSave:
            raise SubjectAlreadyErased(f"subject {subject_id} was already erased") from None

    def get_image(self, image_id: UUID) -> PropertyImage:
        image = self._get_image(image_id)
        image.check_not_removed()
        context = current_audit_context()
        if not context.sees_all_organisations and context.organisation != image.organisation:
            raise ImageNotFound(f"image {image_id} not found")
        return image

    def get_property(self, property_id: UUID, version: int | None = None) -> Property:
        """The property as it is now, or as it was at ``version``, replayed from its events."""
        try:
            prop: Property = self.repository.get(property_id, version=version)
        except AggregateNotFoundError:
            raise PropertyNotFound(f"property {property_id} not found") from None
        if not isinstance(prop, Property):
            raise PropertyNotFound(f"property {property_id} not found")
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

    def _get_image(self, image_id: UUID) -> PropertyImage:
        try:
            image: PropertyImage = self.repository.get(image_id)
        except AggregateNotFoundError:
            raise ImageNotFound(f"image {image_id} not found") from None
        if not isinstance(image, PropertyImage):
            raise ImageNotFound(f"image {image_id} not found")
        return image

    def _load_image_for_change(self, image_id: UUID) -> PropertyImage:
        self._check_may_write()
        return self.get_image(image_id)

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

    def _run(self, attempt: Callable[[], Receipt], expected_version: int | None = None) -> Receipt:
        """Run a command; without an expected version, run it again on a conflicting save.

        Each attempt reloads, so it acts on the state the winner left. Jittered, growing pauses
        spread contenders out; after ``MAX_ATTEMPTS`` the conflict is reported after all.
        """
        if expected_version is not None:
            return attempt()
        for attempt_number in range(MAX_ATTEMPTS - 1):
            try:
                return attempt()
            except _ConcurrentSave:
                ceiling = min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2**attempt_number)
                time.sleep(random.uniform(0, ceiling))  # noqa: S311 - jitter, not a secret
        return attempt()

    def _save(
        self, primary: AuditedAggregate, *others: AuditedAggregate, tracking: Tracking | None = None
    ) -> Receipt:
        """Save atomically; the receipt describes ``primary``, the aggregate the caller acted on.

        With ``tracking`` (a consumer's position), the position is recorded in the same
        transaction as the events, so the consumer's effect happens exactly once.
        """
        events = [*primary.collect_events(), *(e for other in others for e in other.collect_events())]
        try:
            recordings = self.events.put(events, tracking=tracking) if tracking else self.save(*events)
        except IntegrityError:
            raise _ConcurrentSave(
                f"{type(primary).__name__} {primary.id} was changed by someone else; reload and try again"
            ) from None
        recorded = tuple((r.notification.id, r.domain_event) for r in recordings)
        position = recorded[-1][0] if recorded else None
        return Receipt(primary.id, primary.version, position, aggregate=primary, recorded=recorded)
