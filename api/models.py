"""Accounts: who may call the API, for which organisation, in which role; and failed logins."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models

from domain.audit import Role

# What a token vouches for: once one of these changes, every token issued before must stop working.
TOKEN_BOUND_FIELDS = ("role", "organisation", "is_active")


class User(AbstractUser):
    class RoleChoice(models.TextChoices):
        MANAGER = Role.MANAGER.value
        AUDITOR = Role.AUDITOR.value
        ADMIN = Role.ADMIN.value

    organisation = models.CharField(max_length=100)
    role = models.CharField(max_length=20, choices=RoleChoice.choices)
    token_generation = models.PositiveIntegerField(
        default=0,
        help_text="Raised by a password, role or organisation change and by deactivation; tokens "
        "carry the generation they were issued in and are refused once it is behind.",
    )

    _token_bound: tuple[Any, ...] | None = None

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any
    ) -> User:
        user = super().from_db(db, field_names, values, **kwargs)
        user._token_bound = user._token_bound_values()
        return user

    def _token_bound_values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in TOKEN_BOUND_FIELDS)

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Raises the token generation when what tokens vouch for changed.

        A new password counts when it came through ``set_password`` (Django's own sign, the one its
        ``password_changed`` hook uses): a rehash at login (a new hasher, more iterations) keeps the
        password and must not log everyone out.
        """
        bound = self._token_bound_values()
        password_changed = getattr(self, "_password", None) is not None
        if not self._state.adding and (password_changed or bound != self._token_bound):
            self.token_generation += 1
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "token_generation"}
        super().save(*args, **kwargs)
        self._token_bound = bound


class LoginFailures(models.Model):
    """Failed logins counted per key (a username, or a client address) within a window.

    A row per key, locked while it is read and written (``select_for_update``), so parallel
    attempts cannot all read "below the limit" before any of them counts.
    """

    key = models.CharField(max_length=64, primary_key=True, help_text="SHA-256 of the kind and value")
    failures = models.PositiveIntegerField(default=0)
    since = models.DateTimeField(help_text="when the window these failures are counted in opened")
