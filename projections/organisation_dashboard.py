"""The ``organisation_dashboard`` projection: counts per organisation for the managers' overview."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from projections.models import DashboardProperty, OrganisationDashboard, ReadModel
from projections.projection import Handler, Projection, RowCache


class OrganisationDashboardProjection(Projection):
    """Archiving names only the property, so the projection keeps its own property owners."""

    name = "organisation_dashboard"
    version = 1
    models: ClassVar[tuple[type[ReadModel], ...]] = (OrganisationDashboard, DashboardProperty)

    def handlers(self) -> dict[str, Handler]:
        return {
            "cosmo.property.registered": self._registered,
            "cosmo.property.archived": self._archived,
        }

    def start_batch(self, events: Sequence[Any], generation: int) -> None:
        self.owners = RowCache(
            DashboardProperty, "property_id", generation, {e.originator_id for e in events}
        )
        organisations = {getattr(e, "organisation", None) for e in events}
        organisations |= {owner.organisation for owner in self.owners.rows.values()}
        self.counts = RowCache(OrganisationDashboard, "organisation", generation, organisations - {None})

    def finish_batch(self) -> None:
        self.owners.save()
        self.counts.save()

    def _registered(self, event: Any) -> None:
        self.owners.add(event.originator_id, organisation=event.organisation)
        row = self.counts.find(event.organisation) or self.counts.add(event.organisation)
        self.counts.update(event.organisation, active_properties=row.active_properties + 1)

    def _archived(self, event: Any) -> None:
        organisation = self.owners.get(event.originator_id).organisation
        row = self.counts.get(organisation)
        self.counts.update(
            organisation,
            active_properties=row.active_properties - 1,
            archived_properties=row.archived_properties + 1,
        )
