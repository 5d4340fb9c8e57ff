"""Binding the caller's identity to the commands a request runs."""

from __future__ import annotations

from contextvars import Token
from typing import Any

from django.http import HttpRequest
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

from api.client_ip import client_ip
from api.idempotency import IdempotentRequest, Replayed
from api.models import User
from api.query import StrictQueryView
from domain.audit import AuditContext, Role, bind_audit_context, unbind_audit_context
from infrastructure.idempotency import IdempotencyKeyTaken
from infrastructure.read_replica import routing_for_request

MAX_USER_AGENT = 500


def audit_context_for(request: Request) -> AuditContext:
    """Built from the authenticated user and the connection, never from the request body."""
    user = request.user
    assert isinstance(user, User), "audited views run only for authenticated users"
    return audit_context_of(user, request._request)


def audit_context_of(user: User, request: HttpRequest) -> AuditContext:
    """``user`` as the actor of what ``request`` does: the API's token holder or the admin's
    logged-in operator, recorded alike."""
    return AuditContext(
        actor_id=str(user.pk),
        username=user.get_username(),
        role=Role(user.role),
        organisation=user.organisation,
        request_id=getattr(request, "request_id", ""),
        client_ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT],
    )


class AuditedView(StrictQueryView):
    """An authenticated view whose commands all run on behalf of the caller.

    Its writes honour ``Idempotency-Key`` (see ``api.idempotency``): checked once the caller is
    known, the answer stored once the view has answered.
    """

    _audit_token: Token[AuditContext | None] | None = None
    _idempotent: IdempotentRequest | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.audit = audit_context_for(request)
        self._audit_token = bind_audit_context(self.audit)
        self._idempotent = IdempotentRequest.begin(request, self.audit.actor_id)

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """Unbinds whatever is still bound once the request is over: after an unhandled error (a
        500, where DRF skips ``finalize_response``) the caller and the key must not stay bound to
        the thread's next request."""
        try:
            with routing_for_request():
                return super().dispatch(request, *args, **kwargs)
        finally:
            self._unbind_audit()
            if self._idempotent is not None:
                self._idempotent.release()
                self._idempotent = None

    def _unbind_audit(self) -> None:
        if self._audit_token is not None:
            unbind_audit_context(self._audit_token)
            self._audit_token = None

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, Replayed):
            return exc.response
        if isinstance(exc, IdempotencyKeyTaken) and self._idempotent is not None:
            # A duplicate recorded first and this request's events were rolled back: its answer.
            first, self._idempotent = self._idempotent, None
            try:
                return first.first_answer()
            except APIException as refusal:
                exc = refusal
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        self._unbind_audit()
        response = super().finalize_response(request, response, *args, **kwargs)
        if self._idempotent is not None:
            idempotent, self._idempotent = self._idempotent, None
            try:
                answer = idempotent.finish(response)
            except APIException as refusal:
                answer = super().handle_exception(refusal)
            if answer is not response:
                response = super().finalize_response(request, answer, *args, **kwargs)
        return response
