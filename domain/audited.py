"""The base every Cosmo aggregate builds on: events that always say who made them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, CanInitAggregate, CanMutateAggregate

from domain.audit import AuditContext, current_audit_context


class AuditedAggregate(Aggregate):
    """Stamps the current :class:`AuditContext` on every event it records.

    The stamp is added here, once, rather than in each command, so that no event type can be
    defined without it (a test walks every event class to prove it). A subclass with an explicit
    ``TOPIC`` redeclares ``Event`` and ``Created`` with topics of its own: the library requires an
    explicit topic on every event class of such an aggregate, even the bases it never stores.
    """

    class Event(Aggregate.Event):
        audit: AuditContext

    class Created(Event, Aggregate.Created):
        pass

    @classmethod
    def _create(
        cls,
        event_class: type[CanInitAggregate[UUID]],
        *,
        id: UUID | None = None,  # noqa: A002 - the library's keyword
        **kwargs: Any,
    ) -> Any:
        kwargs["audit"] = current_audit_context()
        return super()._create(event_class, id=id, **kwargs)

    def trigger_event(self, event_class: type[CanMutateAggregate[UUID]], **kwargs: Any) -> None:
        kwargs["audit"] = current_audit_context()
        super().trigger_event(event_class, **kwargs)
