from __future__ import annotations

import logging

from django.http import HttpRequest
from django.test import RequestFactory

from api.models import User
from domain.audit import acting_as
from infrastructure.log_context import AuditContextFilter, serving
from tests.conftest import context_for


def record() -> logging.LogRecord:
    return logging.LogRecord("cosmo", logging.INFO, __file__, 1, "property changed", None, None)


def test_log_records_carry_the_request_and_actor_of_the_bound_context() -> None:
    log_record = record()
    with acting_as(context_for("alice")):
        assert AuditContextFilter().filter(log_record)
    fields = [getattr(log_record, name) for name in ("request_id", "actor", "organisation")]
    assert fields == ["req-alice", "alice", "acme"]


def fields_of(log_record: logging.LogRecord) -> list[str | None]:
    assert AuditContextFilter().filter(log_record)
    return [getattr(log_record, name) for name in ("request_id", "actor", "organisation")]


def served(request_id: str, user: User | None = None) -> HttpRequest:
    request = RequestFactory().get("/api/properties")
    request.request_id = request_id  # type: ignore[attr-defined]
    request.user = user  # type: ignore[assignment]
    return request


def test_log_records_outside_a_request_have_the_fields_empty() -> None:
    assert fields_of(record()) == [None, None, None]


def test_log_records_while_a_request_is_served_name_it_and_its_caller() -> None:
    with serving(served("req-7", User(username="bob", organisation="globex"))):
        assert fields_of(record()) == ["req-7", "bob", "globex"]
    assert fields_of(record()) == [None, None, None]


def test_djangos_lines_after_the_middleware_returned_name_the_request_they_pass() -> None:
    """``django.request`` logs a 4xx once every middleware has returned, with the request in extra."""
    log_record = record()
    log_record.request = served("req-404")
    assert fields_of(log_record) == ["req-404", None, None]
