"""The composition root: the one place that decides which stores back the application.

Everything else asks here for the service instead of building one, so swapping SQLite for
PostgreSQL is a ``DATABASE_URL`` change and tests can reset the wiring between databases.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.db import connections

from domain.service import PropertyService
from infrastructure.audit_chain import ChainKey
from infrastructure.persistence import event_store_env

_lock = threading.Lock()
_service: PropertyService | None = None


def property_service() -> PropertyService:
    global _service
    if _service is None:
        with _lock:
            if _service is None:
                env = event_store_env(
                    connections["default"].settings_dict,
                    settings.COSMO_AUDIT_KEY,
                    settings.COSMO_MAX_EVENT_BYTES,
                )
                _service = PropertyService(env=env)
    return _service


def audit_key() -> ChainKey:
    return ChainKey(settings.COSMO_AUDIT_KEY.encode())


def reset() -> None:
    """Close the event store connections so the next call rewires from the current settings."""
    global _service
    with _lock:
        if _service is not None:
            _service.close()
        _service = None
