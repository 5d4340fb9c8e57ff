"""Idempotency keys: a retried write is answered with the first response, never executed twice.

A request that carries an ``Idempotency-Key`` names it here (:func:`bind_claim`) before it runs any
command. The chained recorder reads the pending claim and inserts the key row in the same
transaction as the events the request records, so a key is never claimed without its events nor
the events recorded without their key: of two concurrent duplicates, the second one's events are
rolled back (:class:`IdempotencyKeyTaken`). Once the view has answered, the response is stored
in that row, and later requests with the same key are answered with it.
"""

from __future__ import annotations

import json
from contextvars import ContextVar, Token
from dataclasses import dataclass, field


class IdempotencyKeyTaken(Exception):
    """Another request with the same key recorded its events first; this one's were rolled back."""


@dataclass
class IdempotencyClaim:
    """A request's key, scoped to its user, and the fingerprint of what it asked for.

    ``expires_before``: rows created earlier than this (epoch seconds) count as absent.
    ``recorded`` turns true once the key row was committed with the request's first events,
    so a request that saves several times claims its key once.
    """

    scope: str
    key: str
    fingerprint: str
    created_at: float
    expires_before: float
    recorded: bool = field(default=False)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def headers_json(self) -> str:
        return json.dumps(self.headers, sort_keys=True)


@dataclass(frozen=True)
class KeyRecord:
    """A key as stored: ``response`` is None while the first request runs, or if it died."""

    fingerprint: str
    created_at: float
    response: StoredResponse | None


_pending: ContextVar[IdempotencyClaim | None] = ContextVar("cosmo_idempotency_claim", default=None)


def pending_claim() -> IdempotencyClaim | None:
    return _pending.get()


def bind_claim(claim: IdempotencyClaim) -> Token[IdempotencyClaim | None]:
    """Every event recorded from now on in this context is recorded with ``claim``'s key row."""
    return _pending.set(claim)


def unbind_claim(token: Token[IdempotencyClaim | None]) -> None:
    _pending.reset(token)
