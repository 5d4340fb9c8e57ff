"""Every projection Cosmo maintains, by name."""

from __future__ import annotations

from projections.audit_timeline import AuditTimelineProjection
from projections.organisation_dashboard import OrganisationDashboardProjection
from projections.projection import Projection
from projections.property_detail import PropertyDetailProjection
from projections.property_list import PropertyListProjection

# Classes, not instances: a projection holds per-batch state, so each run gets its own.
PROJECTIONS: dict[str, type[Projection]] = {
    projection.name: projection
    for projection in (
        PropertyListProjection,
        PropertyDetailProjection,
        OrganisationDashboardProjection,
        AuditTimelineProjection,
    )
}


def all_projections() -> list[Projection]:
    return [projection() for projection in PROJECTIONS.values()]


def inline_projections() -> list[Projection]:
    """The read models a write brings up to date before it answers."""
    return [projection() for projection in PROJECTIONS.values() if projection.inline]
