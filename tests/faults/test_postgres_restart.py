"""A PostgreSQL restart in the middle of steady writes, under ``make run`` and under run_workers.

The cluster is the test's own (own port, own data directory): the shared one is never touched.
While it is down, requests answer 503 JSON at once; afterwards the server and the workers carry on
by themselves, and nothing a client was told had been recorded is missing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.api.test_write_path_http import upload
from tests.faults.load import Answer, SteadyWriter, bearer, send
from tests.faults.stack import PASSWORD, Deployment, PrivatePostgres, deployment
from tests.fixtures.tiny_png import tiny_png

pytestmark = [
    pytest.mark.http_server,
    pytest.mark.skipif(
        "postgresql" not in os.environ.get("DATABASE_URL", ""),
        reason="starts a PostgreSQL cluster of its own; the PostgreSQL suite runs it",
    ),
]

WRITERS = 3
DOWN_SECONDS = 5.0
AFTER_SECONDS = 3.0
FAIL_FAST_SECONDS = 8.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivatePostgres]:
    postgres = PrivatePostgres()
    try:
        yield postgres
    finally:
        postgres.remove()


@pytest.fixture(scope="module")
def cosmo(cluster: PrivatePostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    settings = {"COSMO_WORKER_HEARTBEAT_SECONDS": "0.5", "COSMO_READY_WORKER_STALE_SECONDS": "10"}
    with deployment(cluster.url, tmp_path_factory.mktemp("var"), **settings) as stack:
        stack.create_user("alice")
        stack.create_user("root", role="admin")
        yield stack


def restart_under_load(cluster: PrivatePostgres, base: str, auth: dict[str, str]) -> list[Answer]:
    writers = [SteadyWriter(base, auth).start() for _ in range(WRITERS)]
    time.sleep(1.5)
    cluster.stop()
    time.sleep(DOWN_SECONDS)
    cluster.start()
    time.sleep(AFTER_SECONDS)
    return [answer for writer in writers for answer in writer.stop()]


def assert_survived(answers: list[Answer], base: str, auth: dict[str, str]) -> None:
    statuses = {answer.status for answer in answers}
    assert statuses <= {201, 503}, [a for a in answers if a.status not in (201, 503)][:3]
    assert all(answer.content_type == "application/json" for answer in answers)
    refused = [answer for answer in answers if answer.status == 503]
    assert refused, "no request arrived while the database was down"
    assert {answer.body["error"]["code"] for answer in refused} == {"database_unavailable"}
    assert all(answer.headers.get("Retry-After") == "1" for answer in refused)
    assert max(answer.seconds for answer in answers) < FAIL_FAST_SECONDS, sorted(a.seconds for a in answers)[
        -5:
    ]
    written = [answer for answer in answers if answer.status == 201]
    assert len(written) > 50
    for answer in written:  # every acknowledged write is there
        assert send(base, "GET", f"/api/properties/{answer.body['id']}", headers=auth).status == 200
    assert answers[-1].status == 201, "writes did not resume"


def photo_becomes_ready(base: str, auth: dict[str, str], seconds: float = 30) -> None:
    created = send(
        base,
        "POST",
        "/api/properties",
        {
            "name": "After the restart",
            "kind": "house",
            "address": {"street": "2 Quay St", "city": "Lisbon", "postal_code": "1100-001", "country": "PT"},
            "rent": {"amount": "900.00", "currency": "EUR"},
        },
        auth,
    )
    assert created.status == 201, created
    status, _, image = upload(base, f"/api/properties/{created.body['id']}/images", tiny_png(), auth)
    assert status == 202, image
    deadline = time.monotonic() + seconds
    while (shown := send(base, "GET", f"/api/images/{image['id']}", headers=auth).body)["status"] != "ready":
        assert time.monotonic() < deadline, f"photo still {shown['status']} after {seconds} s"
        time.sleep(0.2)


def test_make_run_answers_503_while_postgres_restarts_and_its_worker_recovers(
    cluster: PrivatePostgres, cosmo: Deployment
) -> None:
    base, server = cosmo.serve()
    auth = bearer(base, "alice", PASSWORD)

    answers = restart_under_load(cluster, base, auth)

    assert_survived(answers, base, auth)
    photo_becomes_ready(base, auth)
    assert send(base, "GET", "/ready").status == 200
    assert "worker round failed; retrying" in cosmo.log("serve")
    cosmo.stop(server)


def test_gunicorn_and_run_workers_recover_from_a_postgres_restart(
    cluster: PrivatePostgres, cosmo: Deployment
) -> None:
    base, _ = cosmo.gunicorn()
    workers = cosmo.run_workers()
    auth = bearer(base, "alice", PASSWORD)

    answers = restart_under_load(cluster, base, auth)

    assert_survived(answers, base, auth)
    photo_becomes_ready(base, auth)
    assert workers.poll() is None
    assert "worker round failed; retrying" in cosmo.log("workers")
    assert send(base, "GET", "/ready").status == 200


def test_after_the_restarts_the_audit_chain_and_the_read_models_are_intact(cosmo: Deployment) -> None:
    verified = cosmo.manage("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    checked = cosmo.manage("projections", "rebuild", "--all", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
