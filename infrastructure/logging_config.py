"""One logging configuration for Django, the workers and gunicorn: a JSON object per line on stderr.

Every line has ``time``, ``level``, ``logger``, ``message``, ``request_id``, ``actor`` and
``organisation`` (None outside a request), then whatever the call added in ``extra``. Records
reach one handler only, on the root logger: Django's own configuration gives the ``django``
logger a plain-text console handler under DEBUG (every Django warning printed twice, once as
text) and ``django.server`` one of its own; both are replaced by propagation to the root.
"""

from __future__ import annotations

from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS

FIELDS = ["levelname", "name", "message", "request_id", "actor", "organisation"]
RENAMED = {"levelname": "level", "name": "logger"}
# Objects some loggers pass in ``extra`` that are no field of a line: Django's request (its
# ``request_id`` and caller are taken from it) and the development server's socket and time.
NOT_FIELDS = ["request", "server_time"]


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """The ``dictConfig`` for Django and the workers (``settings.LOGGING``), at ``LOG_LEVEL``."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": FIELDS,
                "rename_fields": RENAMED,
                "timestamp": "time",
                "reserved_attrs": [*RESERVED_ATTRS, *NOT_FIELDS],
            }
        },
        "filters": {"request_context": {"()": "infrastructure.log_context.AuditContextFilter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json",
                "filters": ["request_context"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "django": {"handlers": [], "propagate": True},
            # runserver's line per request repeats ``cosmo.access`` and, for a 4xx, ``django.request``.
            "django.server": {"handlers": [], "propagate": True, "level": "ERROR"},
        },
    }


def gunicorn_logging(level: str = "INFO") -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its master and workers log the same lines as Django.

    No level for ``gunicorn.error``, so ``--log-level`` still applies. Its access log goes nowhere:
    ``cosmo.access`` has the line per request, with the request id, route, caller and duration.
    """
    config = logging_config(level)
    config["loggers"] |= {
        "gunicorn.error": {"handlers": [], "propagate": True},
        "gunicorn.access": {"handlers": [], "propagate": False},
    }
    return config
