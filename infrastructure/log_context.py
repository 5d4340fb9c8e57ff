"""Every log record names the request and actor it belongs to, without each call passing them."""

from __future__ import annotations

import logging

from domain.audit import peek_audit_context


class AuditContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = peek_audit_context()
        if context is not None:
            record.request_id = context.request_id
            record.actor = context.username
            record.organisation = context.organisation
        return True
