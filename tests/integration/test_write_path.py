"""The write path on a real database: one gap-free position, reruns on conflict, keys with events."""

from __future__ import annotations

import socket
import threading
import time
from decimal import Decimal

import psycopg
import pytest
from django.db import connection
from eventsourcing.persistence import IntegrityError

from domain.audit import AuditContext, acting_as
from domain.service import PropertyChanges, PropertyService, Receipt
from domain.values import PropertyKind, Rent
from infrastructure.event_store import ChainedPostgresRecorder, ChainedRecorder, PingWhenIdle, _corked
from infrastructure.idempotency import IdempotencyClaim, IdempotencyKeyTaken, bind_claim, unbind_claim
from projections.registry import inline_projections
from projections.runner import catch_up_quietly
from tests.conftest import database_url, quay_street, rent


def register(service: PropertyService) -> Receipt:
    return service.register_property(
        name="Harbour View Flats", kind=PropertyKind.APARTMENT, address=quay_street(), rent=rent()
    )


def notification_ids(service: PropertyService) -> list[int]:
    return [n.id for n in service.recorder.select_notifications(start=1, limit=1000)]


def chain(service: PropertyService) -> ChainedRecorder:
    assert isinstance(service.recorder, ChainedRecorder)
    return service.recorder


def test_refused_saves_leave_no_gap_between_positions(service: PropertyService, alice: AuditContext) -> None:
    receipt = register(service)
    for n in range(3):
        stale = service.get_property(receipt.id)
        service.update_property(receipt.id, PropertyChanges(name=f"Name {n}"), None)
        stale.rename("Lost update")
        with pytest.raises(IntegrityError):
            service.save(stale)
    last = service.update_property(receipt.id, PropertyChanges(name="Final"), None)
    assert last.position == 5
    assert notification_ids(service) == [1, 2, 3, 4, 5]
    links = chain(service).select_links(0, 100)
    assert [(link.position, link.notification_id) for link in links] == [(p, p) for p in range(1, 6)]


def test_concurrent_changes_without_an_expected_version_all_apply(
    service: PropertyService, alice: AuditContext
) -> None:
    receipt = register(service)
    versions: list[int] = []
    failures: list[BaseException] = []

    def change(n: int) -> None:
        try:
            with acting_as(alice):
                amount = Rent(amount=Decimal(1000 + n), currency="EUR")
                versions.append(
                    service.update_property(receipt.id, PropertyChanges(rent=amount), None).version
                )
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=change, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(versions) == list(range(2, 10))
    assert notification_ids(service) == list(range(1, 10))


def claim(key: str = "k") -> IdempotencyClaim:
    now = time.time()
    return IdempotencyClaim("user-1", key, "fingerprint", now, now - 3600)


def test_a_key_is_recorded_with_the_events_of_its_request(
    service: PropertyService, alice: AuditContext
) -> None:
    token = bind_claim(first := claim())
    try:
        receipt = register(service)
        service.update_property(receipt.id, PropertyChanges(name="Second save, same request"), None)
    finally:
        unbind_claim(token)
    assert first.recorded
    record = chain(service).select_idempotency_key("user-1", "k", first.expires_before)
    assert record is not None
    assert (record.fingerprint, record.response) == ("fingerprint", None)


def test_a_duplicate_whose_key_was_recorded_first_records_nothing(
    service: PropertyService, alice: AuditContext
) -> None:
    token = bind_claim(claim())
    try:
        register(service)
    finally:
        unbind_claim(token)
    token = bind_claim(claim())
    try:
        with pytest.raises(IdempotencyKeyTaken):
            register(service)
    finally:
        unbind_claim(token)
    assert notification_ids(service) == [1]
    assert [link.position for link in chain(service).select_links(0, 100)] == [1]


def test_a_save_that_records_nothing_under_a_key_never_fails_while_others_write(
    service: PropertyService, alice: AuditContext
) -> None:
    """A no-op change (same name) under an Idempotency-Key used to read before it wrote the key in
    a deferred SQLite transaction, and failed at once with "database is locked" when another
    connection (here the read models' catch-up after each write, as the API does it) committed."""
    receipt = register(service)
    failures: list[BaseException] = []
    stop = threading.Event()

    def write() -> None:
        with acting_as(alice):
            n = 0
            while not stop.is_set():
                n += 1
                written = service.update_property(
                    receipt.id, PropertyChanges(rent=rent(f"{1000 + n}.00")), None
                )
                catch_up_quietly(inline_projections(), service, written.position)
        connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for n in range(40):
            token = bind_claim(claim(f"no-op-{n}"))
            try:
                unchanged = service.update_property(
                    receipt.id, PropertyChanges(name="Harbour View Flats"), None
                )
            except BaseException as error:  # noqa: BLE001 - reported by the assertion below
                failures.append(error)
            else:
                assert unchanged.position is None
            finally:
                unbind_claim(token)
    finally:
        stop.set()
        writer.join()
    assert failures == []


def test_pooled_connections_are_pinged_only_after_sitting_idle(service: PropertyService) -> None:
    """The pre-ping costs a round trip per checkout: sent for a connection idle past the limit
    (a restart may have killed it in the pool), not for one handed out a moment ago."""
    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL event store's pool")
    recorder = service.recorder
    assert isinstance(recorder, ChainedPostgresRecorder)
    pool = recorder.datastore.pool
    assert isinstance(pool._check, PingWhenIdle), "the factory installs it in the library's pool"
    checker = PingWhenIdle(idle_seconds=60)
    with psycopg.connect(database_url(), autocommit=True) as conn, psycopg.connect(database_url()) as other:
        checker(conn)  # never seen: pinged, and alive
        other.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])
        checker(conn)  # handed out a moment ago: not pinged, so the dead connection goes unnoticed
        checker.idle_seconds = 0.0
        time.sleep(0.01)
        with pytest.raises(psycopg.OperationalError):
            checker(conn)  # idle past the limit: pinged, and the pool would drop it


def corked(conn: psycopg.Connection[object]) -> int:
    """Whether the kernel is holding this connection's packets back (``TCP_CORK``)."""
    sock = socket.socket(fileno=conn.pgconn.socket)
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK)
    finally:
        sock.detach()


def test_a_round_trip_is_held_back_until_it_waits_and_never_left_corked() -> None:
    """A round trip's statements leave as one packet (one wake-up of the backend, not one per
    statement); a connection left corked would hold every later statement for 200 ms."""
    if connection.vendor != "postgresql" or not hasattr(socket, "TCP_CORK"):
        pytest.skip("TCP_CORK on the PostgreSQL event store's connections (Linux)")
    with psycopg.connect(database_url(), autocommit=True) as conn:
        with _corked(conn) as cork:
            assert corked(conn) == 1
            cork(False)  # before waiting for results
            assert corked(conn) == 0
            cork(True)
        assert corked(conn) == 0
        with pytest.raises(ZeroDivisionError), _corked(conn):
            raise ZeroDivisionError
        assert corked(conn) == 0
        assert conn.execute("SELECT 1").fetchone() == (1,), "the borrowed descriptor is still libpq's"


def test_saves_on_either_path_and_refused_ones_leave_the_connections_uncorked(
    service: PropertyService, alice: AuditContext
) -> None:
    if connection.vendor != "postgresql" or not hasattr(socket, "TCP_CORK"):
        pytest.skip("TCP_CORK on the PostgreSQL event store's connections (Linux)")
    recorder = service.recorder
    assert isinstance(recorder, ChainedPostgresRecorder)
    receipt = register(service)
    for n in range(5):  # the reading way, then after the tail in one round trip (docs/adr/0026)
        service.update_property(receipt.id, PropertyChanges(name=f"Name {n}"), None)
    stale = service.get_property(receipt.id)
    service.update_property(receipt.id, PropertyChanges(name="Latest"), None)
    stale.rename("Lost update")
    with pytest.raises(IntegrityError):
        service.save(stale)
    with recorder.datastore.get_connection() as conn:
        assert corked(conn) == 0
        assert conn.execute("SELECT 1").fetchone() is not None
    assert notification_ids(service) == list(range(1, 8))
