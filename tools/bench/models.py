"""The baseline's storage: one plain row per property, written and read with no events at all."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models


class PlainProperty(models.Model):
    """The same columns as the ``PropertyListing`` read model, saved directly by the view."""

    # Declared for the type checker, which loads the test settings where this app is absent;
    # Django still adds its default manager at runtime.
    objects: ClassVar[models.Manager[PlainProperty]]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    organisation = models.CharField(max_length=100, db_index=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20)
    status = models.CharField(max_length=20, default="active")
    street = models.CharField(max_length=200)
    city = models.CharField(max_length=200)
    postal_code = models.CharField(max_length=200)
    country = models.CharField(max_length=2)
    rent_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    rent_currency = models.CharField(max_length=3, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
