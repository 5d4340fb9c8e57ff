"""Reads through a real PostgreSQL streaming replica keep read-your-writes (docs/adr/0020).

The test's own primary and a hot standby made from it with ``pg_basebackup`` (the shared cluster
is never touched); gunicorn with ``DATABASE_URL`` on the primary and ``DATABASE_REPLICA_URL`` on
the standby. Pausing the standby's replay shows where each read went: a read without a position
answers from the (now stale) standby, one that names a newer position from the primary.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.api.conftest import NEW_PROPERTY
from tests.faults.load import Answer, bearer, send
from tests.faults.stack import PASSWORD, deployment
from tests.fixtures.postgres_cluster import PrivatePostgres

pytestmark = [
    pytest.mark.http_server,
    pytest.mark.skipif(
        "postgresql" not in os.environ.get("DATABASE_URL", ""),
        reason="starts a PostgreSQL primary and streaming replica of its own; the PostgreSQL suite runs it",
    ),
]

REPLICA_WAIT_SECONDS = 0.3


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    primary = PrivatePostgres()
    try:
        replica = PrivatePostgres(replica_of=primary)
        try:
            yield primary, replica
        finally:
            replica.remove()
    finally:
        primary.remove()


@pytest.fixture(scope="module")
def server(
    clusters: tuple[PrivatePostgres, PrivatePostgres], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    primary, replica = clusters
    replica_url = f"postgresql://postgres@127.0.0.1:{replica.port}/cosmo"
    settings = {"DATABASE_REPLICA_URL": replica_url, "COSMO_REPLICA_WAIT_SECONDS": str(REPLICA_WAIT_SECONDS)}
    with deployment(primary.url, tmp_path_factory.mktemp("var"), **settings) as stack:
        stack.create_user("alice")
        base, _ = stack.gunicorn(workers=1, threads=4)
        yield base, bearer(base, "alice", PASSWORD)


def register(base: str, auth: dict[str, str], name: str) -> tuple[str, int]:
    answer = send(base, "POST", "/api/properties", {**NEW_PROPERTY, "name": name}, auth)
    assert answer.status == 201, answer
    return answer.body["id"], int(answer.headers["X-Cosmo-Position"])


def listed(base: str, auth: dict[str, str], position: int | None = None) -> tuple[Answer, list[str]]:
    headers = auth if position is None else {**auth, "X-Cosmo-Min-Position": str(position)}
    answer = send(base, "GET", "/api/properties?page_size=100", headers=headers)
    assert answer.status == 200, answer
    return answer, [row["name"] for row in answer.body["results"]]


def test_a_read_naming_the_write_position_sees_the_write_at_once(server: tuple[str, dict[str, str]]) -> None:
    base, auth = server
    for n in range(20):
        property_id, position = register(base, auth, f"at once {n}")
        headers = {**auth, "X-Cosmo-Min-Position": str(position)}
        answer = send(base, "GET", f"/api/properties/{property_id}", headers=headers)
        assert (answer.status, answer.body["name"]) == (200, f"at once {n}"), answer
        _, names = listed(base, auth, position)
        assert f"at once {n}" in names


def test_a_stalled_replica_serves_plain_reads_and_positioned_reads_fall_back_to_the_primary(
    server: tuple[str, dict[str, str]], clusters: tuple[PrivatePostgres, PrivatePostgres]
) -> None:
    base, auth = server
    _, before = register(base, auth, "replayed")
    deadline = time.monotonic() + 10
    while "replayed" not in listed(base, auth)[1]:  # until a plain read, on the replica, shows it
        assert time.monotonic() < deadline, "the replica never replayed the first write"
        time.sleep(0.05)
    _, replica = clusters
    replica.sql("SELECT pg_wal_replay_pause()")
    try:
        _, after = register(base, auth, "written while replay is paused")

        _, plain = listed(base, auth)
        assert "replayed" in plain
        assert "written while replay is paused" not in plain, "a read without a position went to the primary"

        _, old_position = listed(base, auth, before)
        assert "written while replay is paused" not in old_position, "the replica could serve this read"

        started = time.monotonic()
        _, new_position = listed(base, auth, after)
        assert "written while replay is paused" in new_position, "read-your-writes broken by the replica"
        assert time.monotonic() - started >= REPLICA_WAIT_SECONDS, "answered without waiting for the replica"
    finally:
        replica.sql("SELECT pg_wal_replay_resume()")
    deadline = time.monotonic() + 10
    while "written while replay is paused" not in listed(base, auth)[1]:
        assert time.monotonic() < deadline, "the replica never caught up after the pause"
        time.sleep(0.05)


def test_reads_go_to_the_primary_while_the_replica_is_down(
    server: tuple[str, dict[str, str]], clusters: tuple[PrivatePostgres, PrivatePostgres]
) -> None:
    base, auth = server
    _, replica = clusters
    replica.stop()
    try:
        _, position = register(base, auth, "written while the replica is down")
        assert "written while the replica is down" in listed(base, auth)[1]
        assert "written while the replica is down" in listed(base, auth, position)[1]
    finally:
        replica.start()
