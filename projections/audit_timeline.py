"""The ``audit_timeline`` projection: each property's story, one readable row per event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from eventsourcing.utils import get_topic

from domain.erasure import SubjectErasure
from domain.personal_data import ERASED
from domain.property import Property
from projections.models import AuditTimelineEntry, ReadModel
from projections.projection import Handler, Projection
from projections.row_writer import row_writer


class AuditTimelineProjection(Projection):
    """Append-only but for erasures: a batch is one bulk insert, and a ``SubjectErased`` event
    replaces the erased actor's copied name by the marker in the rows already written."""

    name = "audit_timeline"
    inline = False
    version = 2
    models: ClassVar[tuple[type[ReadModel], ...]] = (AuditTimelineEntry,)

    def handlers(self) -> dict[str, Handler]:
        return {
            get_topic(Property.PropertyRegistered): lambda e: self._add(
                e, f"registered {e.name!r} ({e.kind.value})"
            ),
            get_topic(Property.PropertyRenamed): lambda e: self._add(e, f"renamed to {e.name!r}"),
            get_topic(Property.AddressCorrected): lambda e: self._add(
                e, f"address corrected to {e.address.street}, {e.address.city}"
            ),
            get_topic(Property.RentChanged): lambda e: self._add(
                e, "rent removed" if e.rent is None else f"rent changed to {e.rent.amount} {e.rent.currency}"
            ),
            get_topic(Property.PropertyArchived): lambda e: self._add(
                e, f"archived{': ' + e.reason if e.reason else ''}"
            ),
            get_topic(SubjectErasure.SubjectErased): self._forget_subject,
        }

    def start_batch(self, events: Sequence[Any], generation: int) -> None:
        self.generation = generation
        self.writer = row_writer(AuditTimelineEntry)
        self.entries: list[AuditTimelineEntry] = []
        self.forgotten: list[str] = []

    def finish_batch(self) -> None:
        # Before the batch's own entries go in: the UPDATE blanks only rows of earlier batches, as
        # it did when a handler ran it (this batch's are blanked in memory by ``_forget_subject``).
        for subject_id in self.forgotten:
            forget_subject(self.generation, subject_id)
        self.writer.insert(self.entries)

    def _add(self, event: Any, summary: str) -> None:
        self.entries.append(
            self.writer.new_row(
                generation=self.generation,
                property_id=event.originator_id,
                version=event.originator_version,
                position=self.position,
                event_type=type(event).__name__,
                occurred_at=event.timestamp,
                actor_id=event.audit.actor_id,
                actor_username=event.audit.username,
                actor_role=event.audit.role.value,
                summary=summary[:300],
            )
        )

    def _forget_subject(self, event: Any) -> None:
        """Rows copied before the subject's key was destroyed still hold the name: blank them. (A
        rebuild reads the name as erased already, so both paths end with the same rows.)"""
        for entry in self.entries:
            if entry.actor_id == event.subject_id:
                entry.actor_username = ERASED
        self.forgotten.append(event.subject_id)  # handlers write nothing: ``finish_batch`` does


def forget_subject(generation: int | None, subject_id: str) -> int:
    """Replace the subject's copied name in the timeline (of one generation, or all); how many rows."""
    rows = AuditTimelineEntry.objects.filter(actor_id=subject_id).exclude(actor_username=ERASED)
    if generation is not None:
        rows = rows.filter(generation=generation)
    return rows.update(actor_username=ERASED)
