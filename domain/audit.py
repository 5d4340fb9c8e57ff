"""Who did it: the audit context that every recorded event carries.

The context is set once per request (or CLI run) by the caller and read by the aggregates when
they record an event, so no command can forget it and no client can forge it through a body field.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import MissingAuditContext


class Role(StrEnum):
    MANAGER = "manager"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SYSTEM = "system"


@dataclass(frozen=True)
class AuditContext:
    """The actor and the circumstances of a change, as recorded in the event itself."""

    actor_id: str
    username: str
    role: Role
    organisation: str
    request_id: str
    causation_id: str = ""
    client_ip: str = ""
    user_agent: str = ""

    @property
    def may_write(self) -> bool:
        return self.role is not Role.AUDITOR

    @property
    def sees_all_organisations(self) -> bool:
        return self.role in (Role.ADMIN, Role.AUDITOR, Role.SYSTEM)


_current: ContextVar[AuditContext | None] = ContextVar("cosmo_audit_context", default=None)


def peek_audit_context() -> AuditContext | None:
    """The bound context, if any: for logging, which must work outside requests too."""
    return _current.get()


def current_audit_context() -> AuditContext:
    context = _current.get()
    if context is None:
        raise MissingAuditContext("no audit context is set: every change must say who made it")
    return context


def bind_audit_context(context: AuditContext) -> Token[AuditContext | None]:
    """For frameworks whose request hooks cannot wrap a ``with`` block; pair with unbind."""
    return _current.set(context)


def unbind_audit_context(token: Token[AuditContext | None]) -> None:
    _current.reset(token)


@contextmanager
def acting_as(context: AuditContext) -> Iterator[AuditContext]:
    """Run a block of commands on behalf of ``context``; nests and restores cleanly."""
    token = bind_audit_context(context)
    try:
        yield context
    finally:
        unbind_audit_context(token)
