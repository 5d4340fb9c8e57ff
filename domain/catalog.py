"""Every aggregate Cosmo records, and the event types each one has, for whoever must list them."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from domain.erasure import SubjectErasure
from domain.image import PropertyImage
from domain.property import Property
from domain.retention import RetentionRun

# A new aggregate is one more entry here: audit filters and tests pick it up from this tuple.
AGGREGATES: tuple[type[Aggregate], ...] = (Property, PropertyImage, RetentionRun, SubjectErasure)


def event_classes(aggregate: type[Aggregate]) -> list[type[Aggregate.Event]]:
    """The aggregate's own events, without the ``Event`` and ``Created`` bases it declares."""
    bases = {aggregate.Event, aggregate.Created}
    return [
        cls
        for cls in vars(aggregate).values()
        if isinstance(cls, type) and issubclass(cls, Aggregate.Event) and cls not in bases
    ]
