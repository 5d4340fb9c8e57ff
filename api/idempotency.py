"""``Idempotency-Key`` on writes, as the IETF httpapi draft and Stripe define it.

The same key with the same request (method, path and query, media type, body bytes, If-Match)
is answered with the first response, marked ``Idempotent-Replayed: true``, and records nothing;
with a different request it is refused (422). Keys belong to the user who sent them and are
kept ``COSMO_IDEMPOTENCY_KEY_HOURS``. The key row is written in the transaction of the request's
events (see ``infrastructure.idempotency``), so a retry can never run the command twice.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from contextvars import Token
from dataclasses import dataclass

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from api.uploads import MULTIPART_ALLOWANCE, declared_length
from infrastructure.audit_trail import chained
from infrastructure.composition import property_service
from infrastructure.event_store import ChainedRecorder
from infrastructure.idempotency import (
    IdempotencyClaim,
    KeyRecord,
    StoredResponse,
    bind_claim,
    unbind_claim,
)
from projections.runner import DATABASE_UNAVAILABLE

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENT_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("Content-Type", "ETag", "Location", "X-Cosmo-Position")
# How long a duplicate waits for the first request's answer before 409.
WAIT_FOR_FIRST_SECONDS = 5.0
POLL_SECONDS = 0.05


class IdempotencyKeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = "this Idempotency-Key was used for a different request"


class IdempotencyKeyInUse(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_key_in_use"
    default_detail = (
        "the first request with this Idempotency-Key has not answered yet, or it recorded its changes "
        "and its answer was lost; retry later, or read the resource to see them"
    )


class Replayed(Exception):
    """The request was answered before: ``response`` is that answer."""

    def __init__(self, response: Response) -> None:
        super().__init__("replayed")
        self.response = response


def _keys() -> ChainedRecorder:
    return chained(property_service().recorder)


@dataclass
class IdempotentRequest:
    """One write carrying a key: checked before the view runs, its answer stored after."""

    claim: IdempotencyClaim
    token: Token[IdempotencyClaim | None] | None = None

    @classmethod
    def begin(cls, request: Request, scope: str) -> IdempotentRequest | None:
        """None for requests without a key; raises :class:`Replayed` if the key was answered."""
        if request.method not in IDEMPOTENT_METHODS:
            return None
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return None
        _check_key(key)
        now = time.time()
        expires_before = now - settings.COSMO_IDEMPOTENCY_KEY_HOURS * 3600
        claim = IdempotencyClaim(scope, key, fingerprint(request), now, expires_before)
        begun = cls(claim)
        record = _keys().select_idempotency_key(scope, key, expires_before)
        if record is not None:
            raise Replayed(begun.first_answer(record))
        begun.token = bind_claim(claim)
        return begun

    def first_answer(self, record: KeyRecord | None = None) -> Response:
        """The first request's answer, waited for (bounded) if it is still running."""
        self.release()
        deadline = time.monotonic() + WAIT_FOR_FIRST_SECONDS
        while True:
            record = record or _keys().select_idempotency_key(
                self.claim.scope, self.claim.key, self.claim.expires_before
            )
            if record is not None and record.fingerprint != self.claim.fingerprint:
                raise IdempotencyKeyReused()
            if record is not None and record.response is not None:
                return replay(record.response)
            if time.monotonic() >= deadline:
                raise IdempotencyKeyInUse()
            time.sleep(POLL_SECONDS)
            record = None

    def finish(self, response: Response) -> Response:
        """Store the answer for later retries, unless a duplicate recorded first: then its answer."""
        self.release()
        if response.status_code >= 500 or response.has_header(REPLAYED_HEADER):
            return response
        response.render()
        headers = {name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)}
        stored = StoredResponse(response.status_code, headers, bytes(response.content))
        try:
            kept = _keys().store_idempotent_response(self.claim, stored)
        except DATABASE_UNAVAILABLE:
            if not self.claim.recorded:
                raise
            # The events are recorded: a 5xx would misreport them. A retry with this key finds no
            # stored answer and gets 409 (a lost answer), never a second write.
            logger.warning("answer not kept for its Idempotency-Key: database unavailable")
            return response
        if kept or self.claim.recorded:
            return response
        return self.first_answer()

    def release(self) -> None:
        if self.token is not None:
            unbind_claim(self.token)
            self.token = None


def replay(stored: StoredResponse) -> Response:
    """The stored answer as it was sent: its bytes are set as already rendered."""
    response = Response(status=stored.status)
    response.content = stored.body
    if "Content-Type" not in stored.headers:
        del response["Content-Type"]  # a 204 had none
    for name, value in stored.headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in key):
        raise ValidationError(
            {IDEMPOTENCY_HEADER: [f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"]}
        )


def fingerprint(request: Request) -> str:
    """What makes two requests "the same": method, path and query, media type, If-Match, body."""
    django_request = request._request
    digest = hashlib.sha256()
    for part in (
        request.method or "",
        django_request.get_full_path(),
        django_request.content_type or "",
        request.headers.get("If-Match", ""),
    ):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(_raw_body(request))
    return digest.hexdigest()


def _raw_body(request: Request) -> bytes:
    """The body as sent, kept for the parsers that run later.

    Multipart boundaries are chosen afresh by clients on each send: they are replaced by a fixed
    one, so a retried upload of the same form matches. A body beyond the upload limit is not read
    (the view refuses it with 413 before reading); its declared length stands in for it.
    """
    django_request = request._request
    length = declared_length(request)
    if length > settings.COSMO_MAX_UPLOAD_BYTES + MULTIPART_ALLOWANCE:
        return f"unread body of {length} bytes".encode()
    if not hasattr(django_request, "_body"):
        # As HttpRequest.body does, minus its DATA_UPLOAD_MAX_MEMORY_SIZE check: uploads are
        # larger, and our own limit was checked above.
        body = django_request.read()
        django_request._body = body
        django_request._stream = io.BytesIO(body)
    body = bytes(django_request._body)
    boundary = django_request.content_params.get("boundary") if django_request.content_params else None
    if boundary:
        body = body.replace(b"--" + boundary.encode("latin-1"), b"--boundary")
    return body
