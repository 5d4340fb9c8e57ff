"""Every log record names the request and actor it belongs to, without each call passing them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest

from domain.audit import peek_audit_context

_current_request: ContextVar[HttpRequest | None] = ContextVar("cosmo_current_request", default=None)


@contextmanager
def serving(request: HttpRequest) -> Iterator[None]:
    """Lines logged while ``request`` is served name it, before and after the view knows the caller."""
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


class AuditContextFilter(logging.Filter):
    """Sets ``request_id``, ``actor`` and ``organisation`` on every record (None when there is none).

    While a command runs, the audit context says who acts (also in the workers, which act for the
    system on behalf of the request that uploaded a photo). Around it, the request being served
    does: the one bound by the request middleware, or the one Django's ``django.request`` logger
    passes with its 4xx and 5xx lines, which it writes after every middleware has returned.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = record.actor = record.organisation = None
        context = peek_audit_context()
        if context is not None:
            record.request_id = context.request_id or None
            record.actor = context.username
            record.organisation = context.organisation
            return True
        request = getattr(record, "request", None)
        if not isinstance(request, HttpRequest):  # django.server passes its socket
            request = _current_request.get()
        if request is not None:
            user: Any = getattr(request, "user", None)
            record.request_id = getattr(request, "request_id", None)
            record.actor = getattr(user, "username", None)
            record.organisation = getattr(user, "organisation", None)
        return True
