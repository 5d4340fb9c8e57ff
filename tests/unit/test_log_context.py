from __future__ import annotations

import logging

from domain.audit import acting_as
from infrastructure.log_context import AuditContextFilter
from tests.conftest import context_for


def record() -> logging.LogRecord:
    return logging.LogRecord("cosmo", logging.INFO, __file__, 1, "property changed", None, None)


def test_log_records_carry_the_request_and_actor_of_the_bound_context() -> None:
    log_record = record()
    with acting_as(context_for("alice")):
        assert AuditContextFilter().filter(log_record)
    fields = [getattr(log_record, name) for name in ("request_id", "actor", "organisation")]
    assert fields == ["req-alice", "alice", "acme"]


def test_log_records_outside_a_request_pass_unchanged() -> None:
    log_record = record()
    assert AuditContextFilter().filter(log_record)
    assert not hasattr(log_record, "request_id")
