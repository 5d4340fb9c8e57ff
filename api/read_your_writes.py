"""Read-your-writes: a write brings the read models up to date and says where it was recorded.

A later read in another process (where the worker, not the request, moves the read models) may
send that position back as ``X-Cosmo-Min-Position`` and waits, bounded, until it is projected.

With a streaming replica (``DATABASE_REPLICA_URL``), reads of the read models go there: a read
without a position at once (it may be a little behind, as a read of another process always
could), one with a position once the replica has replayed it. The replica is given
``COSMO_REPLICA_WAIT_SECONDS`` (a replay normally takes milliseconds); after that the read waits
on, and reads from, the primary instead, so a lagging replica costs latency, never a stale answer
(docs/adr/0020).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from api.query import ascii_integer
from domain.service import Receipt
from infrastructure.composition import property_service
from infrastructure.read_replica import REPLICA, read_models_from, replica_configured, replica_reachable
from projections.inline import apply_recorded
from projections.registry import inline_projections
from projections.runner import DATABASE_UNAVAILABLE, catch_up_quietly
from projections.selectors import ProjectionBehind, wait_until_projected

logger = logging.getLogger(__name__)

POSITION_HEADER = "X-Cosmo-Position"
MIN_POSITION_HEADER = "X-Cosmo-Min-Position"
# A committed write outlasts a database restart this long rather than answer 5xx for recorded changes.
RENDER_AFTER_COMMIT_SECONDS = 10.0
RENDER_RETRY_PAUSE_SECONDS = 0.2
MIN_POSITION_PARAMETER = OpenApiParameter(
    MIN_POSITION_HEADER,
    {"type": "integer", "minimum": 0},
    OpenApiParameter.HEADER,
    description="wait (bounded) until the read model has seen this X-Cosmo-Position; 503 if it has not, "
    "400 at once if no event has been recorded at that position yet",
)


def wait_for_min_position(request: Request, *projections: str) -> None:
    """Wait until each named read model has seen the position the client names, if it names one,
    and choose the database this request reads them from: the replica whenever it can serve."""
    header = request.headers.get(MIN_POSITION_HEADER)
    if header is None:
        if replica_configured() and replica_reachable():
            read_models_from(REPLICA)
        return
    position = ascii_integer(header)
    if position is None:
        raise ValidationError({MIN_POSITION_HEADER: ["must be a non-negative integer"]})
    head = property_service().recorder.max_notification_id() or 0
    if position > head:
        # Clients learn positions only from recorded writes: one beyond the head is a mistake (or a
        # probe), answered now instead of holding a worker for the whole wait.
        raise ValidationError(
            {MIN_POSITION_HEADER: [f"position {position} has not been recorded; the head is {head}"]}
        )
    deadline = time.monotonic() + settings.COSMO_MIN_POSITION_WAIT_SECONDS
    if replica_configured():
        replica_deadline = min(deadline, time.monotonic() + settings.COSMO_REPLICA_WAIT_SECONDS)
        if _replica_has_seen(position, projections, replica_deadline):
            read_models_from(REPLICA)
            return
    for name in projections:
        wait_until_projected(name, position, max(0.0, deadline - time.monotonic()), DEFAULT_DB_ALIAS)


def _replica_has_seen(position: int, projections: tuple[str, ...], deadline: float) -> bool:
    """Whether the replica replays ``position`` into each read model by ``deadline``.

    The replica is a consistent copy: once its tracking row shows the position, the rows written
    in the same transaction are there too, and later reads only see it further on.
    """
    if not replica_reachable():
        return False
    try:
        for name in projections:
            wait_until_projected(name, position, max(0.0, deadline - time.monotonic()), REPLICA)
    except ProjectionBehind:
        return False
    except DATABASE_UNAVAILABLE as error:
        logger.warning("read replica failed; reading from the primary", extra={"error": repr(error)})
        connections[REPLICA].close()  # possibly broken: the next read opens a fresh one
        return False
    return True


def answer_write(
    receipt: Receipt, render: Callable[[], Any] | None = None, status_code: int = status.HTTP_200_OK
) -> Response:
    """Catch the read models up, so this answer and the writer's next read show the write.

    ``render`` makes the body once the read models have caught up; a stalled one is left behind
    (and reported by its status), since the write itself has already been recorded.
    """
    project_write(receipt)
    response = Response(None if render is None else _render_committed(render), status=status_code)
    if receipt.position is not None:
        response[POSITION_HEADER] = str(receipt.position)
    return response


def project_write(receipt: Receipt) -> None:
    """Bring the read models up to the write: the events the write has in hand go straight into
    the read models that were right before them; only the others read the store."""
    behind = inline_projections()
    if receipt.recorded:
        # On a database failure the catch-up below meets it too, logs it and leaves it to the worker.
        with suppress(*DATABASE_UNAVAILABLE):
            # A streaming replica is sent only flushed WAL: without waiting for the flush, this
            # write's rows could reach it up to the WAL writer's delay (200 ms) late (ADR 0028).
            behind = apply_recorded(behind, receipt.recorded, wait_for_flush=replica_configured())
    catch_up_quietly(behind, property_service(), receipt.position)


def _render_committed(render: Callable[[], Any]) -> Any:
    """The body of a recorded write, read again while the database restarts (bounded).

    A 5xx would tell the client the write failed, and its retry would record it twice.
    """
    deadline = time.monotonic() + RENDER_AFTER_COMMIT_SECONDS
    while True:
        try:
            return render()
        except DATABASE_UNAVAILABLE:
            if time.monotonic() >= deadline or connection.in_atomic_block:
                raise
            connection.close()
            time.sleep(RENDER_RETRY_PAUSE_SECONDS)
