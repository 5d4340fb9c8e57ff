"""The Merkle log on the real database: proofs from stored nodes, and SQL tampering `audit verify` catches."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from django.core.management import CommandError, call_command
from eventsourcing.persistence import StoredEvent

from domain.service import PropertyService
from infrastructure.audit_chain import Verification
from infrastructure.composition import transparency_log
from infrastructure.event_store import ChainedRecorder
from infrastructure.log_leaf import event_leaf
from infrastructure.merkle import appended_nodes, nodes_for_size, verify_consistency, verify_inclusion
from infrastructure.signed_note import Checkpoint, SigningKey
from infrastructure.transparency_log import TransparencyLog
from tests.integration.test_audit_chain import record_five_events, sql, verify_in_one_pass_and_in_spans

OTHER_KEY = SigningKey.from_text("cosmo.local/audit", base64.b64encode(b"x" * 32).decode())


@pytest.fixture
def log(service: PropertyService, alice: Any) -> TransparencyLog:
    record_five_events(service)
    return transparency_log()


def verify(log: TransparencyLog, *kept: Checkpoint) -> Verification:
    return verify_in_one_pass_and_in_spans(log.recorder, (), kept, log.verifiers)


def problem_of(result: Verification) -> tuple[int, str]:
    assert result.first_problem is not None, "tampering went unnoticed"
    return result.first_problem.position, result.first_problem.kind


def stored_events(log: TransparencyLog) -> list[StoredEvent]:
    return list(log.recorder.select_notifications(start=1, limit=100))


def test_every_event_gets_its_leaf_in_its_own_transaction_and_every_proof_verifies(
    service: PropertyService, log: TransparencyLog
) -> None:
    first = log.make_checkpoint()
    record_five_events(service)
    second = log.make_checkpoint()
    assert (first.size, second.size) == (5, 10)
    assert log.checkpoints() == [first, second]
    for position, stored in enumerate(stored_events(log), start=1):
        leaf = event_leaf(position, stored)
        assert log.leaf_hash(position - 1) == leaf
        assert verify_inclusion(leaf, position - 1, 10, log.inclusion_proof(position - 1, 10), second.root)
    assert verify_consistency(5, 10, first.root, second.root, log.consistency_proof(5, 10))
    result = verify(log)
    assert result.ok, result.first_problem
    assert (result.tree_size, result.checkpoints_checked) == (10, 2)


@pytest.mark.parametrize(
    ("tampering", "position"),
    [
        pytest.param(["UPDATE {events} SET state = %s WHERE {nid} = 3"], 3, id="edited payload"),
        pytest.param(
            ["UPDATE {events} SET topic = 'cosmo.property.archived' WHERE {nid} = 2"], 2, id="edited topic"
        ),
        pytest.param(["DELETE FROM {events} WHERE {nid} = 4"], 4, id="deleted event"),
        pytest.param(
            [
                "UPDATE {events} SET originator_version = originator_version + 100 WHERE {nid} = 4",
                "UPDATE {events} SET originator_version = 2 WHERE {nid} = 5",
                "UPDATE {events} SET originator_version = 3 WHERE {nid} = 4",
            ],
            4,
            id="reordered events",
        ),
    ],
)
def test_sql_tampering_with_events_is_caught_at_its_position(
    log: TransparencyLog, tampering: list[str], position: int
) -> None:
    log.make_checkpoint()
    for statement in tampering:
        sql(statement, *([b'{"name":"Forged"}'] if "%s" in statement else []))
    assert problem_of(verify(log))[0] == position


def test_an_edited_actor_in_the_metadata_is_caught(log: TransparencyLog) -> None:
    third = stored_events(log)[2]
    forged = bytes(third.state).replace(b"id-alice", b"id-mallory")
    assert forged != bytes(third.state)
    sql("UPDATE {events} SET state = %s WHERE {nid} = 3", forged)
    assert problem_of(verify(log))[0] == 3


COPY_OF_EVENT_2 = (
    "INSERT INTO {events} (originator_id, originator_version, topic, state) SELECT originator_id, 99, topic, "
)


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        pytest.param(
            COPY_OF_EVENT_2 + "%s FROM {events} WHERE {nid} = 2", [b'{"name":"In"}'], id="inserted event"
        ),
        pytest.param(COPY_OF_EVENT_2 + "state FROM {events} WHERE {nid} = 2", [], id="duplicated event"),
    ],
)
def test_an_event_inserted_with_sql_is_not_in_the_log(
    log: TransparencyLog, statement: str, params: list[bytes]
) -> None:
    sql(statement, *params)
    assert problem_of(verify(log))[0] == 6


def test_a_cut_tail_with_its_nodes_and_checkpoints_removed_is_caught_by_a_kept_checkpoint(
    log: TransparencyLog,
) -> None:
    kept = log.make_checkpoint()
    sql("DELETE FROM {events} WHERE {nid} > 3")
    sql("DELETE FROM {chain} WHERE position > 3")
    sql("DELETE FROM {merkle} WHERE seq >= %s", nodes_for_size(3))
    sql("DELETE FROM {checkpoints}")
    assert verify(log).ok, "without a kept checkpoint, a clean cut looks like a shorter log"
    assert problem_of(verify(log, kept)) == (5, "truncated")


def test_a_checkpoint_row_forged_in_the_database_is_caught(log: TransparencyLog) -> None:
    real = log.make_checkpoint()
    forged = OTHER_KEY.sign(real.size, real.root, real.time)
    sql(
        "INSERT INTO {checkpoints} (size, made_at, root, note) VALUES (%s, %s, %s, %s)",
        5,
        "2000-01-01T00:00:00Z",
        real.root,
        forged.text,
    )
    assert problem_of(verify(log)) == (5, "forged_checkpoint")


def test_an_insider_who_rewrites_an_event_its_links_and_its_tree_is_caught_by_the_signed_checkpoint(
    log: TransparencyLog,
) -> None:
    """The HMAC key and the database are not enough: the checkpoint's signature needs the other key."""
    log.make_checkpoint()
    events = stored_events(log)
    forged = bytes(events[1].state).replace(b"id-alice", b"id-mallory")
    sql("UPDATE {events} SET state = %s WHERE {nid} = 2", forged)
    events[1] = StoredEvent(events[1].originator_id, events[1].originator_version, events[1].topic, forged)
    recorder: ChainedRecorder = log.recorder
    links = recorder.linker.links(None, [1, 2, 3, 4, 5], events)
    for link in links:
        sql("UPDATE {chain} SET digest = %s WHERE position = %s", link.digest, link.position)
    nodes = appended_nodes(0, [], [event_leaf(position, e) for position, e in enumerate(events, start=1)])
    for seq, digest in nodes:
        sql("UPDATE {merkle} SET hash = %s WHERE seq = %s", digest, seq)
    assert problem_of(verify(log)) == (5, "checkpoint_mismatch")


def test_a_log_recorded_before_the_tree_is_backfilled_and_then_verifies(
    service: PropertyService, log: TransparencyLog, capsys: pytest.CaptureFixture[str]
) -> None:
    expected_root = log.root(5)
    sql("DELETE FROM {merkle}")
    assert problem_of(verify(log)) == (1, "unlogged_event")
    record_five_events(service)  # recorded while the tree is behind: left for the backfill
    assert log.size() == 0
    call_command("audit", "backfill")
    assert "added 10 events" in capsys.readouterr().out
    assert log.root(5) == expected_root
    record_five_events(service)  # caught up: inserts append their own leaves again
    assert log.size() == 15
    checkpoint = log.make_checkpoint()
    result = verify(log)
    assert result.ok, result.first_problem
    assert result.root == base64.b64encode(checkpoint.root).decode()


def test_workers_backfill_a_log_never_checkpointed_and_then_sign_checkpoints(log: TransparencyLog) -> None:
    sql("DELETE FROM {merkle}")
    log.keep(every_events=3, every_seconds=3600)
    assert (log.size(), log.latest_checkpoint()) == (5, None)
    log.keep(every_events=3, every_seconds=3600)
    latest = log.latest_checkpoint()
    assert latest is not None
    assert latest.size == 5
    log.keep(every_events=3, every_seconds=3600)
    assert len(log.checkpoints()) == 1, "no new events: no new checkpoint"


def test_once_checkpointed_a_tree_behind_its_events_is_not_extended_by_workers(log: TransparencyLog) -> None:
    log.make_checkpoint()
    sql("DELETE FROM {merkle} WHERE seq >= %s", nodes_for_size(3))
    log.keep(every_events=1, every_seconds=0)
    assert log.size() == 3
    assert problem_of(verify(log))[1] == "unlogged_event"


def test_cli_checkpoint_publishes_to_a_file_that_verify_holds_the_log_to(
    log: TransparencyLog, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    witness = tmp_path / "checkpoints.txt"
    call_command("audit", "public-key")
    assert capsys.readouterr().out.strip() == log.verifier.vkey
    call_command("audit", "checkpoint", "--publish", str(witness))
    printed = capsys.readouterr().out
    assert printed.startswith("cosmo.local/audit\n5\n")
    call_command("audit", "checkpoint", "--publish", str(witness))
    capsys.readouterr()
    assert witness.read_text().count("cosmo.local/audit\n5\n") == 2
    call_command("audit", "verify", "--checkpoint", str(witness))
    assert capsys.readouterr().out.startswith("OK: checked 5 events")
    sql("DELETE FROM {events} WHERE {nid} > 3")
    sql("DELETE FROM {chain} WHERE position > 3")
    sql("DELETE FROM {merkle} WHERE seq >= %s", nodes_for_size(3))
    sql("DELETE FROM {checkpoints}")
    call_command("audit", "verify")
    with pytest.raises(CommandError, match=r"TAMPERED at position 5 \(truncated\)"):
        call_command("audit", "verify", "--checkpoint", str(witness))
    other = OTHER_KEY.sign(3, log.root(3), datetime.now(UTC))
    with pytest.raises(CommandError, match="kept checkpoint refused"):
        call_command("audit", "verify", "--checkpoint", other.text)


def test_a_batch_of_events_inserted_together_gets_every_leaf(log: TransparencyLog) -> None:
    """On PostgreSQL the library pipelines the insert: the tree's reads must come before its writes."""
    template = stored_events(log)[0]
    batch = [
        StoredEvent(uuid4(), 1, template.topic, bytes(template.state).replace(b"Harbour", b"Harbor"))
        for _ in range(40)
    ]
    log.recorder.insert_events(batch)
    assert log.size() == 45
    result = verify(log)
    assert result.ok, result.first_problem
