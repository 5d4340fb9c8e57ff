"""The bench's Django app: only :mod:`tools.bench.settings` installs it, never production."""

from __future__ import annotations

from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "tools.bench"
    label = "bench"
    default_auto_field = "django.db.models.BigAutoField"
