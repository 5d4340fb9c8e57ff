"""WSGI entry point for production servers (gunicorn infrastructure.wsgi)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from infrastructure.environment import CONFIGURATION_ERRORS, exit_unconfigured

GUNICORN_APP_LOAD_ERROR = 4
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infrastructure.settings")
try:
    application = get_wsgi_application()
except CONFIGURATION_ERRORS as error:
    # One line naming the variable, as manage.py says it, rather than a traceback; gunicorn stops
    # on this exit code (its APP_LOAD_ERROR) instead of booting the worker again, forever.
    exit_unconfigured(error, GUNICORN_APP_LOAD_ERROR)
