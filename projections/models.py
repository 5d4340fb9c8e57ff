"""Read-model tables. Disposable: every row here can be rebuilt from the event store."""

from __future__ import annotations

from django.db import models


class ProjectionPosition(models.Model):
    """How far a projection has read the global event stream.

    Written in the same transaction as the projection's rows, so a crash can neither skip an
    event nor apply one twice.
    """

    name = models.CharField(max_length=100, primary_key=True)
    version = models.PositiveIntegerField(default=1)
    position = models.BigIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)


class PropertyListing(models.Model):
    """One row per property, as the list and detail endpoints show it."""

    id = models.UUIDField(primary_key=True)
    organisation = models.CharField(max_length=100, db_index=True)
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20)
    status = models.CharField(max_length=20, db_index=True)
    street = models.CharField(max_length=200)
    city = models.CharField(max_length=200)
    postal_code = models.CharField(max_length=200)
    country = models.CharField(max_length=2)
    rent_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    rent_currency = models.CharField(max_length=3, blank=True, default="")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["organisation", "-created_at"])]
