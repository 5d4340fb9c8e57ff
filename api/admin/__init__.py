"""The operators' admin at /admin/: read-only views over the read models for admins.

Nothing here writes a table: each action runs a command through the application service (which
records events naming the acting admin) or the projection runner. ``site`` is what urls.py mounts;
importing the modules below registers their pages on it.
"""

from __future__ import annotations

from api.admin import audit, images, projections, properties
from api.admin.site import site

__all__ = ["audit", "images", "projections", "properties", "site"]
