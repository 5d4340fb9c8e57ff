"""The event store's retries while PostgreSQL is away, bounded in total instead of per attempt.

The library retries each recorder call ten times, and every attempt may wait the pool's whole
timeout for a connection: a request in flight during a restart hung for half a minute before
failing. These are the same calls with the same retries, given up once the budget is spent, so
the request answers 503 (``database_unavailable``) in seconds and the client retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresTrackingRecorder,
)

RETRY_BUDGET_SECONDS = 4.0
RETRY_PAUSE_SECONDS = 0.2


def within_budget(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` (a library ``@retry`` one) retried only while the budget lasts."""
    return retried_within_budget(method.__wrapped__)  # type: ignore[attr-defined]


def retried_within_budget(once: Callable[..., Any]) -> Callable[..., Any]:
    """``once`` retried on a lost connection, as the library retries, only while the budget lasts."""

    @wraps(once)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + RETRY_BUDGET_SECONDS
        while True:
            try:
                return once(*args, **kwargs)
            except (InterfaceError, OperationalError):
                if time.monotonic() + RETRY_PAUSE_SECONDS >= deadline:
                    raise
                time.sleep(RETRY_PAUSE_SECONDS)

    return bounded


class RetriesWithinBudget:
    """Put before the library's PostgreSQL recorder classes in a recorder's bases."""

    insert_events = within_budget(PostgresApplicationRecorder.insert_events)
    select_events = within_budget(PostgresAggregateRecorder.select_events)
    select_notifications = within_budget(PostgresApplicationRecorder.select_notifications)
    max_notification_id = within_budget(PostgresApplicationRecorder.max_notification_id)
    insert_tracking = within_budget(PostgresTrackingRecorder.insert_tracking)
    max_tracking_id = within_budget(PostgresTrackingRecorder.max_tracking_id)
    has_tracking_id = within_budget(PostgresTrackingRecorder.has_tracking_id)
