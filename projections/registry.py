"""Every projection Cosmo maintains, by name."""

from __future__ import annotations

from projections.property_list import PropertyListProjection
from projections.runner import Projection

PROJECTIONS: dict[str, Projection] = {
    projection.name: projection for projection in (PropertyListProjection(),)
}
