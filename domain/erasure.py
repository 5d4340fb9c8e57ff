"""Erasures: a data subject's personal data made unreadable, recorded like any other change.

The event names the subject by its pseudonymous id only (never a name, address or agent), says
who asked and on what ground, and how many earlier events held that person's data in clear (they
were recorded before encryption existed and cannot be shredded without breaking the audit log).
One erasure per subject: the aggregate's id is derived from the subject id, so a second one for
the same person conflicts instead of being recorded twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.audited import AuditedAggregate


def erasure_id(subject_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"cosmo:erasure:{subject_id}")


class SubjectErasure(AuditedAggregate):
    TOPIC = "cosmo.erasure"

    class Event(AuditedAggregate.Event):
        TOPIC = "cosmo.erasure.event"

    class Created(Event, AuditedAggregate.Created):
        TOPIC = "cosmo.erasure.created"

    if TYPE_CHECKING:  # made by the @event decorators below; declared for the code that names them
        SubjectErased: ClassVar[type[Event]]

    @event("SubjectErased", topic="cosmo.erasure.subject_erased")
    def __init__(self, subject_id: str, ground: str, unshreddable_events: int) -> None:
        self.subject_id = subject_id
        self.ground = ground
        self.unshreddable_events = unshreddable_events

    @staticmethod
    def create_id(subject_id: str, ground: str, unshreddable_events: int) -> UUID:
        return erasure_id(subject_id)
