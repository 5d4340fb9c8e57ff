"""Sealed personal values as stored and as read back (docs/adr/0016): one token per value, the
older list form, boxes moved to another place, and how long an opened value is remembered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from django.conf import settings
from django.db import connection

from api.event_json import audit_json, json_safe
from domain.audit import AuditContext, Role, acting_as
from domain.personal_data import ERASED
from domain.service import PropertyService
from domain.values import PropertyKind
from infrastructure.data_keys import DataKeyError, subject_ref
from infrastructure.persistence import event_store_env
from infrastructure.personal_data_cipher import PersonalDataCipher
from infrastructure.transcoder import OrjsonTranscoder
from tests.conftest import context_for, quay_street

PERSONAL = ("username", "client_ip", "user_agent")


@pytest.fixture
def other_process(service: PropertyService) -> Iterator[PropertyService]:
    """Another application on the same store, with caches of its own (as another process has)."""
    env = event_store_env(
        connection.settings_dict, settings.COSMO_AUDIT_KEY, master_key=settings.COSMO_MASTER_KEY
    )
    other = PropertyService(env=env)
    yield other
    other.close()


def cipher_of(service: PropertyService) -> PersonalDataCipher:
    transcoder = service.mapper.transcoder
    assert isinstance(transcoder, OrjsonTranscoder)
    assert transcoder.cipher is not None
    return transcoder.cipher


def record(service: PropertyService, who: AuditContext) -> bytes:
    """One event recorded by ``who``; its stored state."""
    with acting_as(who):
        receipt = service.register_property(name="Quay", kind=PropertyKind.HOUSE, address=quay_street())
    [notification] = service.recorder.select_notifications(receipt.position or 0, 1)
    return notification.state


def with_audit(state: bytes, change: Any) -> bytes:
    """The stored state with its audit context's fields changed by ``change(fields)``."""
    decoded = orjson.loads(state)
    change(decoded["audit"]["_data_"])
    return orjson.dumps(decoded)


def shown(service: PropertyService, state: bytes) -> tuple[str, str, str]:
    audit = service.mapper.transcoder.decode(state)["audit"]
    return (audit.username, audit.client_ip, audit.user_agent)


ALICE_AS_RECORDED = ("alice", "203.0.113.7", "pytest")


def test_each_value_is_stored_as_one_token_and_the_older_list_form_still_opens(
    service: PropertyService, other_process: PropertyService
) -> None:
    state = record(service, context_for("alice"))
    fields = orjson.loads(state)["audit"]["_data_"]
    tokens = [fields[name]["_data_"] for name in PERSONAL]
    assert all(isinstance(token, str) and token.startswith("id-alice:") for token in tokens)

    def as_lists(audit: dict[str, Any]) -> None:
        for name in PERSONAL:
            audit[name]["_data_"] = audit[name]["_data_"].rsplit(":", 2)

    older = with_audit(state, as_lists)
    assert shown(other_process, older) == ALICE_AS_RECORDED  # nothing cached there: each box opened
    assert shown(service, older) == shown(service, state) == ALICE_AS_RECORDED


@pytest.mark.parametrize("moved", ["to another field", "to another subject"])
def test_a_box_moved_elsewhere_does_not_open_even_after_it_was_opened_where_it_belongs(
    service: PropertyService, moved: str
) -> None:
    state = record(service, context_for("alice"))
    record(service, context_for("bob"))  # bob has a data key of his own
    assert shown(service, state) == ALICE_AS_RECORDED  # opened, and remembered by its token

    def move(audit: dict[str, Any]) -> None:
        if moved == "to another field":
            audit["user_agent"] = audit["client_ip"]  # same subject, same day: only the field differs
        else:
            audit["username"]["_data_"] = audit["username"]["_data_"].replace("id-alice", "id-bob", 1)

    with pytest.raises(DataKeyError):
        shown(service, with_audit(state, move))


def test_erased_values_read_erased_at_once_here_and_after_the_key_cache_period_elsewhere(
    service: PropertyService, other_process: PropertyService
) -> None:
    state = record(service, context_for("alice"))
    cipher_of(other_process).keys.cache_seconds = 0.3
    assert shown(service, state) == shown(other_process, state) == ALICE_AS_RECORDED

    cipher_of(service).keys.destroy([subject_ref("id-alice")])
    assert shown(service, state) == (ERASED, ERASED, ERASED)
    time.sleep(0.4)
    assert shown(other_process, state) == (ERASED, ERASED, ERASED)


def test_after_a_cache_period_the_keys_of_many_people_are_read_again_in_one_query(
    service: PropertyService, other_process: PropertyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = [context_for(name) for name in ("ann", "ben", "cid", "dot", "eve")]
    states = [record(service, who) for who in people]
    keys = cipher_of(other_process).keys
    keys.cache_seconds = 0.3
    queries: list[list[str]] = []
    select = keys.table.select

    def counted(refs: list[str]) -> Any:
        queries.append(list(refs))
        return select(refs)

    monkeypatch.setattr(keys.table, "select", counted)  # the real query, counted

    def read_all() -> list[tuple[str, str, str]]:
        return [shown(other_process, state) for state in states]

    expected = [(who.username, "203.0.113.7", "pytest") for who in people]
    assert read_all() == expected
    assert len(queries) > 1, "first read: one query per person"
    time.sleep(0.4)
    queries.clear()
    assert read_all() == expected
    assert len(queries) == 1
    assert len(queries[0]) == len(people) + 1  # each person's key and the day's


def test_the_export_shows_each_audit_context_exactly_as_decoding_it_would(
    service: PropertyService, other_process: PropertyService
) -> None:
    """``audit_json`` presents the usual shape straight from the stored JSON (docs/adr/0025); in
    clear, sealed, in the older list form, erased, of an older shape, or read without a cipher."""
    odd = AuditContext("7", 'a "quoted" \\ name', Role.SYSTEM, "acme", "r-1", "c-1", "", "agent/\u00e9")
    states = [record(service, context_for("alice")), record(service, odd)]

    def as_lists(audit: dict[str, Any]) -> None:
        for name in PERSONAL:
            if isinstance(audit[name], dict):
                audit[name]["_data_"] = audit[name]["_data_"].rsplit(":", 2)

    def in_clear(audit: dict[str, Any]) -> None:
        audit["username"] = "carol"

    def older_shape(audit: dict[str, Any]) -> None:
        del audit["user_agent"]

    states += [with_audit(states[0], change) for change in (as_lists, in_clear, older_shape)]

    def both_ways(app: PropertyService, state: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
        transcoder = app.mapper.transcoder
        assert isinstance(transcoder, OrjsonTranscoder)
        stored = orjson.loads(state)["audit"]
        return audit_json(stored, transcoder), json_safe(transcoder.decode_value(stored))

    plain = OrjsonTranscoder()  # no cipher: sealed values are shown as stored
    for state in states:
        for app in (service, other_process):
            fast, decoded = both_ways(app, state)
            assert fast == decoded
            assert list(fast) == list(decoded)
        stored = orjson.loads(state)["audit"]
        assert audit_json(stored, plain) == json_safe(plain.decode_value(stored))
    assert both_ways(service, states[0])[0]["username"] == "alice"
    assert both_ways(service, states[1])[0]["username"] == odd.username

    cipher_of(service).keys.destroy([subject_ref("id-alice")])
    fast, decoded = both_ways(service, states[0])
    assert fast == decoded
    assert (fast["username"], fast["client_ip"]) == (ERASED, ERASED)
