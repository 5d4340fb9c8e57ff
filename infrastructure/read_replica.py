"""Reads of the read models from a PostgreSQL streaming replica (``DATABASE_REPLICA_URL``).

Nothing goes to the replica unless a request chose it (``read_models_from``): the event store,
every write, every catch-up and rebuild, and the body of a write's answer all stay on the
primary, so a read that must see a write can never be sent somewhere that has not replayed it by
accident. The choice is per request (a context variable, reset by ``routing_for_request``), and
only the read-model tables (the ``projections`` app) follow it: users, tokens and the rest are
read from the primary. Which requests choose the replica, and how they keep read-your-writes,
is ``api.read_your_writes``'s business.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from projections.runner import DATABASE_UNAVAILABLE

logger = logging.getLogger(__name__)

REPLICA = "replica"
READ_MODELS_APP = "projections"

_read_models_from: ContextVar[str | None] = ContextVar("cosmo_read_models_from", default=None)


class ReadModelRouter:
    """Django's ``DATABASE_ROUTERS`` entry: read models from where the request chose, all else default."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        if model._meta.app_label == READ_MODELS_APP:
            return _read_models_from.get()
        return None

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the replica is a copy of the primary: same rows, same ids

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == REPLICA else None  # the replica replays the primary's migrations


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def routing_for_request() -> Iterator[None]:
    """Reads of read models go to the primary unless this request chooses otherwise; reset after.

    Server threads serve one request after another: a choice left behind would route the next one.
    """
    token = _read_models_from.set(None)
    try:
        yield
    finally:
        _read_models_from.reset(token)


def read_models_from(alias: str) -> None:
    """Send this request's remaining read-model reads to ``alias`` (inside ``routing_for_request``)."""
    _read_models_from.set(alias)


def replica_reachable() -> bool:
    """Whether the replica answers now; a replica that is down is logged and read around."""
    replica = connections[REPLICA]
    try:
        replica.cursor().close()  # checks a kept connection's health (once a request), or connects
    except DATABASE_UNAVAILABLE as error:
        logger.warning("read replica unavailable; reading from the primary", extra={"error": repr(error)})
        replica.close()
        return False
    return True
