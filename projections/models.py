"""Read-model tables. Disposable: every row here can be rebuilt from the event store.

Rows carry the *generation* of the build that wrote them. Readers only ever see the live
generation (``live()``); a rebuild writes the next generation beside it and then flips
``ProjectionState.generation`` in one transaction, so the API never serves a half-built model.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models import QuerySet, Subquery

from domain.image import MAX_CAPTION_LENGTH


class ProjectionState(models.Model):
    """Which generation of a projection is live, and which code version built it."""

    name = models.CharField(max_length=100, primary_key=True)
    version = models.PositiveIntegerField()
    generation = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "read model"

    def __str__(self) -> str:
        return self.name


class ProjectionTracking(models.Model):
    """How far one generation of a projection has read the global event stream.

    Written in the same transaction as that generation's rows, so a crash can neither skip an
    event nor apply one twice.
    """

    name = models.CharField(max_length=100)
    generation = models.PositiveIntegerField()
    position = models.BigIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    error_position = models.BigIntegerField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "generation"], name="one_tracking_per_generation")
        ]

    @classmethod
    def live(cls, name: str) -> QuerySet[ProjectionTracking]:
        """The tracking row of the projection's live generation, found in one query."""
        live_generation = ProjectionState.objects.filter(name=name).values("generation")[:1]
        return cls.objects.filter(name=name, generation=Subquery(live_generation))


class ReadModel(models.Model):
    """Base of every read-model table: a generation column and a ``live()`` view of the rows."""

    projection_name: ClassVar[str]
    generation = models.PositiveIntegerField()

    class Meta:
        abstract = True

    @classmethod
    def live(cls) -> QuerySet[Any]:
        live_generation = ProjectionState.objects.filter(name=cls.projection_name).values("generation")[:1]
        return cls._default_manager.filter(generation=Subquery(live_generation))


class PropertyListing(ReadModel):
    """One row per property, as the list and detail endpoints show it."""

    projection_name = "property_list"

    property_id = models.UUIDField()
    organisation = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20)
    status = models.CharField(max_length=20)
    street = models.CharField(max_length=200)
    city = models.CharField(max_length=200)
    postal_code = models.CharField(max_length=200)
    country = models.CharField(max_length=2)
    rent_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    rent_currency = models.CharField(max_length=3, blank=True, default="")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = "property"
        verbose_name_plural = "properties"
        ordering = ["-created_at", "property_id"]
        constraints = [
            models.UniqueConstraint(fields=["generation", "property_id"], name="one_listing_per_property")
        ]
        indexes = [
            models.Index(
                fields=["generation", "organisation", "-created_at"], name="listing_by_organisation"
            ),
            models.Index(fields=["generation", "-created_at"], name="listing_by_age"),
        ]

    def __str__(self) -> str:
        return self.name


class OrganisationDashboard(ReadModel):
    """Counts per organisation, for the managers' overview."""

    projection_name = "organisation_dashboard"

    organisation = models.CharField(max_length=100)
    active_properties = models.PositiveIntegerField(default=0)
    archived_properties = models.PositiveIntegerField(default=0)
    images_pending = models.PositiveIntegerField(default=0)
    images_failed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["organisation"]
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "organisation"], name="one_dashboard_per_organisation"
            )
        ]


class DashboardProperty(ReadModel):
    """Which organisation owns a property, so the dashboard needs no other projection."""

    projection_name = "organisation_dashboard"

    property_id = models.UUIDField()
    organisation = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["generation", "property_id"], name="one_owner_per_property")
        ]


class DashboardImage(ReadModel):
    """Each photo's organisation and status: only ``ImageAdded`` names the organisation."""

    projection_name = "organisation_dashboard"

    image_id = models.UUIDField()
    organisation = models.CharField(max_length=100)
    status = models.CharField(max_length=20)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["generation", "image_id"], name="one_status_per_image")
        ]


class GalleryImage(ReadModel):
    """One row per photo that has not been removed, as the image endpoints show it."""

    projection_name = "property_detail"

    image_id = models.UUIDField()
    property_id = models.UUIDField()
    organisation = models.CharField(max_length=100)
    status = models.CharField(max_length=20)
    caption = models.CharField(max_length=MAX_CAPTION_LENGTH, blank=True, default="")
    filename = models.TextField()
    format = models.CharField(max_length=20)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    original_bytes = models.PositiveBigIntegerField()
    variants = models.JSONField(default=list)
    stored_bytes = models.PositiveBigIntegerField(default=0)
    failure = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    position = models.PositiveIntegerField(default=0)
    is_cover = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = "photo"
        ordering = ["property_id", "position", "created_at"]
        constraints = [models.UniqueConstraint(fields=["generation", "image_id"], name="one_row_per_image")]
        indexes = [models.Index(fields=["generation", "property_id", "position"], name="gallery_by_property")]

    def __str__(self) -> str:
        return self.caption or self.filename


class PropertyGallery(ReadModel):
    """A property's photo order and cover, kept so each gallery event can renumber its rows."""

    projection_name = "property_detail"

    property_id = models.UUIDField()
    image_ids = models.JSONField(default=list)
    cover_image_id = models.UUIDField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["generation", "property_id"], name="one_gallery_per_property")
        ]


class AuditTimelineEntry(ReadModel):
    """One row per event about a property, with the actor's name copied in for fast timelines
    (and the actor's id, so that an erasure can find the copies of a name it must replace)."""

    projection_name = "audit_timeline"

    property_id = models.UUIDField()
    version = models.PositiveIntegerField()
    position = models.BigIntegerField()
    event_type = models.CharField(max_length=100)
    occurred_at = models.DateTimeField()
    actor_id = models.CharField(max_length=150, default="")
    actor_username = models.CharField(max_length=150)
    actor_role = models.CharField(max_length=20)
    summary = models.CharField(max_length=300)

    class Meta:
        verbose_name = "audit timeline entry"
        verbose_name_plural = "audit timeline"
        ordering = ["property_id", "position"]
        constraints = [models.UniqueConstraint(fields=["generation", "position"], name="one_entry_per_event")]
        indexes = [
            models.Index(fields=["generation", "property_id", "position"], name="timeline_by_property")
        ]

    def __str__(self) -> str:
        return f"{self.position}: {self.event_type}"


class WorkerHeartbeat(models.Model):
    """When a background worker last finished a round, so ``/ready`` sees one that died or hangs.

    Kept in the database rather than in memory: ``run_workers`` runs in other processes (or on
    other hosts) than the API that answers ``/ready``. One row per worker name (its image
    partition), so a restarted worker takes over its predecessor's row instead of leaving a stale
    one behind; a worker that stops cleanly removes its row.
    """

    name = models.CharField(max_length=100, primary_key=True)
    process = models.CharField(max_length=200)
    beat_at = models.DateTimeField()
