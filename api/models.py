"""Accounts: who may call the API, for which organisation, in which role."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from domain.audit import Role


class User(AbstractUser):
    class RoleChoice(models.TextChoices):
        MANAGER = Role.MANAGER.value
        AUDITOR = Role.AUDITOR.value
        ADMIN = Role.ADMIN.value

    organisation = models.CharField(max_length=100)
    role = models.CharField(max_length=20, choices=RoleChoice.choices)
