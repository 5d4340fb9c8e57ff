"""What Cosmo needs from gunicorn, as config settings and server hooks: JSON logs, live metrics.

A gunicorn config file imports them (``from infrastructure.gunicorn_hooks import *``), or gunicorn
runs with this module as its config: ``gunicorn -c python:infrastructure.gunicorn_hooks
infrastructure.wsgi``.
"""

from __future__ import annotations

from typing import Any

from infrastructure import metrics
from infrastructure.logging_config import gunicorn_logging

__all__ = ["logconfig_dict", "on_starting"]

logconfig_dict = gunicorn_logging()


def on_starting(server: Any) -> None:
    """Before the workers start: the value files of a previous run's processes go."""
    metrics.forget_dead_processes()
