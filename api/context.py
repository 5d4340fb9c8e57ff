"""Binding the caller's identity to the commands a request runs."""

from __future__ import annotations

from contextvars import Token
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from api.models import User
from api.query import StrictQueryView
from domain.audit import AuditContext, Role, bind_audit_context, unbind_audit_context

MAX_USER_AGENT = 500


def audit_context_for(request: Request) -> AuditContext:
    """Built from the authenticated user and the connection, never from the request body."""
    user = request.user
    assert isinstance(user, User), "audited views run only for authenticated users"
    return AuditContext(
        actor_id=str(user.pk),
        username=user.get_username(),
        role=Role(user.role),
        organisation=user.organisation,
        request_id=getattr(request._request, "request_id", ""),
        client_ip=request.META.get("REMOTE_ADDR", ""),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT],
    )


class AuditedView(StrictQueryView):
    """An authenticated view whose commands all run on behalf of the caller."""

    _audit_token: Token[AuditContext | None] | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.audit = audit_context_for(request)
        self._audit_token = bind_audit_context(self.audit)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        if self._audit_token is not None:
            unbind_audit_context(self._audit_token)
            self._audit_token = None
        return super().finalize_response(request, response, *args, **kwargs)
