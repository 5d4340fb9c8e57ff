"""Writer processes appending at once keep every guarantee group commit must not weaken (ADR 0023).

On PostgreSQL the recorder releases the table lock at the commit record and waits for the WAL
flush afterwards; these writers are separate processes, as gunicorn's workers are, each with its
own pool. While they write, a reader tails the log and must never see a position appear below one
it has already seen (commit order = position order). Afterwards: positions 1..N with no gap, each
link at its event's id, the chain and the Merkle tree verify, and every stale save was refused.
"""

from __future__ import annotations

import multiprocessing
import threading

from domain.audit import AuditContext
from domain.service import PropertyService
from domain.values import PropertyKind
from infrastructure import audit_trail
from infrastructure.audit_chain import ChainKey
from infrastructure.event_store import ChainedRecorder
from tests.conftest import quay_street, rent
from tests.faults.writer_process import write

WRITERS = 4
ROUNDS = 15


def test_writer_processes_keep_positions_gap_free_in_commit_order_and_the_chain_valid(
    service: PropertyService, alice: AuditContext
) -> None:
    shared = service.register_property(
        name="Shared", kind=PropertyKind.APARTMENT, address=quay_street(), rent=rent()
    )
    env = {**service.env, "CREATE_TABLE": "n"}
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS + 1)
    results = context.Queue()
    writers = [
        context.Process(target=write, args=(env, str(shared.id), writer, ROUNDS, start, results))
        for writer in range(WRITERS)
    ]
    seen_gaps: list[tuple[int, list[int]]] = []
    done = threading.Event()

    def tail() -> None:
        """Every read must be a prefix 1..n: a hole would be a position committed out of order."""
        while not done.is_set():
            ids = [n.id for n in service.recorder.select_notifications(start=1, limit=10_000)]
            if ids != list(range(1, len(ids) + 1)):
                seen_gaps.append((len(ids), ids))

    reader = threading.Thread(target=tail)
    for writer in writers:
        writer.start()
    reader.start()
    try:
        start.wait(timeout=60)
        counts = [results.get(timeout=240) for _ in writers]
    finally:
        done.set()
        reader.join()
        for writer in writers:
            writer.join(timeout=30)

    assert seen_gaps == []
    assert all(refused == ROUNDS for _, _, refused in counts)
    total = 1 + sum(registered + changed for registered, changed, _ in counts)
    ids = [n.id for n in service.recorder.select_notifications(start=1, limit=10_000)]
    assert ids == list(range(1, total + 1))
    recorder = service.recorder
    assert isinstance(recorder, ChainedRecorder)
    links = recorder.select_links(0, 10_000)
    assert [(link.position, link.notification_id) for link in links] == [(p, p) for p in ids]
    verification = audit_trail.verify(recorder, ChainKey(service.env["AUDIT_CHAIN_KEY"].encode()))
    assert verification.ok, verification.first_problem
    assert (verification.checked, verification.tree_size) == (total, total)
    assert service.get_property(shared.id).version == 1 + WRITERS * ROUNDS
