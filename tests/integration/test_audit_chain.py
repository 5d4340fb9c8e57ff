"""Tamper evidence: change the real SQLite file or PostgreSQL table with SQL, and verify notices."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from eventsourcing.persistence import ApplicationRecorder

from domain.audit import AuditContext
from domain.service import PropertyChanges, PropertyService
from domain.values import PropertyKind
from infrastructure import audit_trail
from infrastructure.audit_chain import Seal, Verification
from infrastructure.composition import audit_key
from infrastructure.event_store import AuditFilter, chain_table, checkpoints_table, merkle_table, seals_table
from infrastructure.merkle import nodes_for_size
from infrastructure.persistence import event_store_env
from infrastructure.signed_note import Checkpoint, VerifierKey
from tests.conftest import EVENT_TABLES, quay_street, rent


def record_five_events(service: PropertyService) -> None:
    for name in ("One", "Two", "Three"):
        receipt = service.register_property(
            name=name, kind=PropertyKind.LAND, address=quay_street(), rent=rent()
        )
    service.update_property(receipt.id, PropertyChanges(name="Three and a half"), 1)
    service.archive_property(receipt.id, 2)


def verify(service: PropertyService, *seals: Any) -> Verification:
    return verify_in_one_pass_and_in_spans(service.recorder, seals)


def verify_in_one_pass_and_in_spans(
    recorder: ApplicationRecorder,
    seals: Iterable[Seal] = (),
    kept: Iterable[Checkpoint] = (),
    verifiers: Sequence[VerifierKey] = (),
) -> Verification:
    """What one pass finds; cut into spans of one or two events, checked in forked processes on
    connections of their own, the log must give exactly the same report."""
    whole = audit_trail.verify(recorder, audit_key(), seals, kept, verifiers)
    spans = audit_trail.verify(recorder, audit_key(), seals, kept, verifiers, workers=3, min_span=1)
    assert spans == whole, "verifying in spans found other than one pass"
    return whole


def sql(statement: str, *params: Any) -> None:
    """Run SQL as someone with direct database access would; {events} etc. name our tables."""
    events = EVENT_TABLES[connection.vendor]
    nid = "rowid" if connection.vendor == "sqlite" else "notification_id"
    with connection.cursor() as cursor:
        cursor.execute(
            statement.format(
                events=events,
                chain=chain_table(events),
                seals=seals_table(events),
                merkle=merkle_table(events),
                checkpoints=checkpoints_table(events),
                nid=nid,
            ),
            params,
        )


@pytest.fixture
def store(service: PropertyService, alice: AuditContext) -> PropertyService:
    record_five_events(service)
    return service


def test_untouched_store_verifies_clean_with_positions_one_to_n(store: PropertyService) -> None:
    audit_trail.seal(store.recorder, audit_key())
    result = verify(store)
    assert result.ok, result.first_problem
    assert (result.checked, result.head_position, result.seals_checked) == (5, 5, 1)
    links = audit_trail.chained(store.recorder).select_links(0, 10)
    assert [link.position for link in links] == [1, 2, 3, 4, 5]
    assert {link.actor for link in links} == {
        "id-alice"
    }  # the actor id: a username would outlive its erasure


def test_applications_taking_turns_each_append_after_the_real_end(store: PropertyService) -> None:
    """A recorder appends after the end it wrote last while that is still the end (docs/adr/0026):
    after another application's events it must link after those, every time."""
    other = PropertyService(env=event_store_env(connection.settings_dict, settings.COSMO_AUDIT_KEY))
    try:
        for app in (other, other, store, other, store, store, other):
            app.register_property(name="Turn", kind=PropertyKind.LAND, address=quay_street(), rent=rent())
    finally:
        other.close()
    result = verify(store)
    assert result.ok, result.first_problem
    assert (result.checked, result.head_position, result.tree_size) == (12, 12, 12)
    links = audit_trail.chained(store.recorder).select_links(0, 20)
    assert [(link.position, link.notification_id) for link in links] == [(n, n) for n in range(1, 13)]


def test_a_store_made_with_the_aggregate_index_loses_it_and_still_filters_by_aggregate(
    store: PropertyService,
) -> None:
    """The chain keeps no index of aggregate ids (docs/adr/0043): a store made before gets its index
    dropped by the next process that opens it, and one aggregate's entries come through the events
    table's key, in chain order, after any position."""
    sql("CREATE INDEX IF NOT EXISTS {chain}_aggregate ON {chain} (originator_id, originator_version)")
    PropertyService(env=event_store_env(connection.settings_dict, settings.COSMO_AUDIT_KEY)).close()
    recorder = audit_trail.chained(store.recorder)
    table = chain_table(EVENT_TABLES[connection.vendor])
    assert f"{table}_aggregate" not in connection.introspection.get_constraints(connection.cursor(), table)
    third = UUID(str(recorder.select_links(0, 5)[2].originator_id))
    by_aggregate = AuditFilter(originator_id=third)
    entries = recorder.select_entries(0, 10, by_aggregate)
    assert [(entry.link.position, entry.event.originator_version) for entry in entries] == [
        (3, 1),
        (4, 2),
        (5, 3),
    ]
    assert [entry.link.position for entry in recorder.select_entries(3, 10, by_aggregate)] == [4, 5]


def test_edited_payload_is_caught_at_its_position(store: PropertyService) -> None:
    sql("UPDATE {events} SET state = %s WHERE {nid} = 3", b'{"name":"Forged"}')
    problem = verify(store).first_problem
    assert problem is not None
    assert (problem.position, problem.kind) == (3, "digest_mismatch")


def test_edited_topic_is_caught(store: PropertyService) -> None:
    sql("UPDATE {events} SET topic = 'cosmo.property.renamed' WHERE {nid} = 2")
    problem = verify(store).first_problem
    assert problem is not None
    assert (problem.position, problem.kind) == (2, "digest_mismatch")


def test_deleted_row_is_caught(store: PropertyService) -> None:
    sql("DELETE FROM {events} WHERE {nid} = 2")
    problem = verify(store).first_problem
    assert problem is not None
    assert (problem.position, problem.kind) == (2, "missing_event")


def test_inserted_row_is_caught(store: PropertyService) -> None:
    originator = "0" * 31 + "1" if connection.vendor == "sqlite" else "00000000-0000-0000-0000-000000000001"
    sql(
        "INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES (%s, 1, %s, %s)",
        originator,
        "cosmo.property.registered",
        b"{}",
    )
    problem = verify(store).first_problem
    assert problem is not None
    assert (problem.position, problem.kind) == (6, "unchained_event")


def test_reordered_rows_are_caught(store: PropertyService) -> None:
    sql("UPDATE {events} SET {nid} = 1000 WHERE {nid} = 4")
    sql("UPDATE {events} SET {nid} = 4 WHERE {nid} = 5")
    sql("UPDATE {events} SET {nid} = 5 WHERE {nid} = 1000")
    problem = verify(store).first_problem
    assert problem is not None
    assert (problem.position, problem.kind) == (4, "digest_mismatch")


def test_recomputing_the_chain_without_the_key_does_not_help(store: PropertyService) -> None:
    """An attacker who edits an event and rewrites its link with a plain hash is still caught."""
    sql("UPDATE {events} SET state = %s WHERE {nid} = 5", b'{"reason":"never archived"}')
    sql("UPDATE {chain} SET digest = %s WHERE position = 5", hashlib.sha256(b"forged").hexdigest())
    problem = verify(store).first_problem
    assert problem is not None
    assert (problem.position, problem.kind) == (5, "digest_mismatch")


def test_deleted_link_is_caught(store: PropertyService) -> None:
    sql("DELETE FROM {chain} WHERE position = 3")
    problem = verify(store).first_problem
    assert problem is not None
    assert (problem.position, problem.kind) == (3, "missing_link")


def test_forged_seal_is_caught(store: PropertyService) -> None:
    audit_trail.seal(store.recorder, audit_key())
    sql("UPDATE {seals} SET position = 4")
    problem = verify(store).first_problem
    assert problem is not None
    assert problem.kind == "forged_seal"


def test_cut_off_tail_is_caught_by_a_seal_kept_outside_the_database(store: PropertyService) -> None:
    seal = audit_trail.seal(store.recorder, audit_key())
    assert seal is not None
    sql("DELETE FROM {events} WHERE {nid} > 3")
    sql("DELETE FROM {chain} WHERE position > 3")
    sql("DELETE FROM {merkle} WHERE seq >= %s", nodes_for_size(3))
    sql("DELETE FROM {seals}")
    assert verify(store).ok, "without any seal a clean cut at the tail looks like a shorter history"
    problem = verify(store, seal).first_problem
    assert problem is not None
    assert (problem.position, problem.kind) == (5, "truncated")


def test_cli_seal_prints_a_line_that_verify_accepts_and_fails_on_tampering(
    store: PropertyService, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("audit", "seal")
    seal_text = capsys.readouterr().out.strip()
    assert seal_text.startswith("cosmo-seal:5:")
    call_command("audit", "verify", "--seal", seal_text)
    assert capsys.readouterr().out.startswith("OK: checked 5 events and 2 seals")
    sql("UPDATE {events} SET state = %s WHERE {nid} = 1", b"{}")
    with pytest.raises(CommandError, match="TAMPERED at position 1"):
        call_command("audit", "verify")
