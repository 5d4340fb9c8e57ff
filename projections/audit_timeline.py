"""The ``audit_timeline`` projection: each property's story, one readable row per event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from projections.models import AuditTimelineEntry, ReadModel
from projections.projection import Handler, Projection
from projections.row_writer import row_writer


class AuditTimelineProjection(Projection):
    """Append-only: rows are never updated, so a batch is one bulk insert."""

    name = "audit_timeline"
    inline = False
    version = 1
    models: ClassVar[tuple[type[ReadModel], ...]] = (AuditTimelineEntry,)

    def handlers(self) -> dict[str, Handler]:
        return {
            "cosmo.property.registered": lambda e: self._add(e, f"registered {e.name!r} ({e.kind.value})"),
            "cosmo.property.renamed": lambda e: self._add(e, f"renamed to {e.name!r}"),
            "cosmo.property.address_corrected": lambda e: self._add(
                e, f"address corrected to {e.address.street}, {e.address.city}"
            ),
            "cosmo.property.rent_changed": lambda e: self._add(
                e, "rent removed" if e.rent is None else f"rent changed to {e.rent.amount} {e.rent.currency}"
            ),
            "cosmo.property.archived": lambda e: self._add(
                e, f"archived{': ' + e.reason if e.reason else ''}"
            ),
        }

    def start_batch(self, events: Sequence[Any], generation: int) -> None:
        self.generation = generation
        self.entries: list[AuditTimelineEntry] = []

    def finish_batch(self) -> None:
        row_writer(AuditTimelineEntry).insert(self.entries)

    def _add(self, event: Any, summary: str) -> None:
        self.entries.append(
            AuditTimelineEntry(
                generation=self.generation,
                property_id=event.originator_id,
                version=event.originator_version,
                position=self.position,
                event_type=type(event).__name__,
                occurred_at=event.timestamp,
                actor_username=event.audit.username,
                actor_role=event.audit.role.value,
                summary=summary[:300],
            )
        )
