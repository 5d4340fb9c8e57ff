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

from tests.api.conftest import NEW_PROPERTY
from tests.api.test_write_path_http import upload
from tests.faults.load import Answer, SteadyWriter, bearer, send
from tests.faults.stack import PASSWORD, Deployment, deployment
from tests.fixtures.postgres_cluster import PrivatePostgres
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
FAIL_FAST_SECONDS = 10.0


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


def restart_under_load(
    cluster: PrivatePostgres, base: str, auth: dict[str, str], label: str
) -> tuple[list[Answer], list[Answer]]:
    """Steady writers (a POST every 20 ms each); the cluster stops, stays down, comes back.

    Returns every answer, and the answers to the 503'd requests sent again with their keys.
    """
    writers = [SteadyWriter(base, auth, f"{label}-{n}").start() for n in range(WRITERS)]
    time.sleep(1.5)
    cluster.stop()
    time.sleep(DOWN_SECONDS)
    cluster.start()
    back = time.monotonic()
    time.sleep(AFTER_SECONDS)
    answers = [writer.stop() for writer in writers]
    assert all(each[-1].status == 201 for each in answers), "writes did not resume"
    resumed = min(
        a.started + a.seconds for each in answers for a in each if a.status == 201 and a.started > back
    )
    print(f"\nRESTART {label}: first 201 sent after the restart answered {resumed - back:.2f} s after it")
    retried = [answer for writer in writers for answer in writer.retry_refused()]
    return [answer for each in answers for answer in each], retried


def assert_survived(
    answers: list[Answer], retried: list[Answer], base: str, auth: dict[str, str], label: str
) -> None:
    """503 JSON at once while down; every 201 recorded; a 503'd request sent again with its key is
    recorded once: now (201), or, if the database committed it but its answer was lost with the
    connection, not again (409 idempotency_key_in_use). Nothing else is recorded."""
    statuses = {answer.status for answer in answers}
    assert statuses <= {201, 503}, [a for a in answers if a.status not in (201, 503)][:3]
    assert all(answer.content_type == "application/json" for answer in answers)
    refused = [answer for answer in answers if answer.status == 503]
    assert refused, "no request arrived while the database was down"
    assert {answer.body["error"]["code"] for answer in refused} == {"database_unavailable"}
    assert all(answer.headers.get("Retry-After") == "1" for answer in refused)
    slowest = max(answer.seconds for answer in answers)
    assert slowest < FAIL_FAST_SECONDS
    written = [answer for answer in answers if answer.status == 201]
    for answer in written:
        assert send(base, "GET", f"/api/properties/{answer.body['id']}", headers=auth).status == 200
    now = [answer for answer in retried if answer.status == 201]
    lost = [answer for answer in retried if answer.status == 409]
    assert len(now) + len(lost) == len(retried), [a for a in retried if a.status not in (201, 409)][:3]
    assert {answer.body["error"]["code"] for answer in lost} <= {"idempotency_key_in_use"}
    recorded = send(base, "GET", f"/api/properties?search={label}&page_size=1", headers=auth).body["count"]
    assert recorded == len(written) + len(now) + len(lost)
    figures = {
        "label": label,
        "writes": len(answers),
        "201": len(written),
        "503": len(refused),
        "503_recorded_answer_lost": len(lost),
        "slowest_503_s": round(max(a.seconds for a in refused), 3),
        "slowest_s": round(slowest, 3),
    }
    print(f"\nRESTART {figures}")


def photo_becomes_ready(base: str, auth: dict[str, str], seconds: float = 30) -> None:
    created = send(base, "POST", "/api/properties", {**NEW_PROPERTY, "name": "After the restart"}, auth)
    assert created.status == 201, created
    status, _, image = upload(base, f"/api/properties/{created.body['id']}/images", tiny_png(), auth)
    assert status == 202, image
    deadline = time.monotonic() + seconds
    while (shown := send(base, "GET", f"/api/images/{image['id']}", headers=auth).body)["status"] != "ready":
        assert time.monotonic() < deadline, f"photo still {shown['status']} after {seconds} s"
        time.sleep(0.2)


def ready_again(base: str, seconds: float = 30) -> None:
    """``/ready`` answers 200 again: every worker's heartbeat is fresh once it is past its backoff."""
    deadline = time.monotonic() + seconds
    while (answer := send(base, "GET", "/ready")).status != 200:
        assert time.monotonic() < deadline, f"still not ready after {seconds} s: {answer.body}"
        time.sleep(0.5)


def test_make_run_answers_503_while_postgres_restarts_and_its_worker_recovers(
    cluster: PrivatePostgres, cosmo: Deployment
) -> None:
    base, server = cosmo.serve()
    auth = bearer(base, "alice", PASSWORD)

    answers, retried = restart_under_load(cluster, base, auth, "serve")

    assert_survived(answers, retried, base, auth, "serve")
    photo_becomes_ready(base, auth)  # only the worker that lived through the restart can do that
    ready_again(base)
    cosmo.stop(server)


def test_gunicorn_and_run_workers_recover_from_a_postgres_restart(
    cluster: PrivatePostgres, cosmo: Deployment
) -> None:
    base, _ = cosmo.gunicorn()
    workers = cosmo.run_workers()
    auth = bearer(base, "alice", PASSWORD)

    answers, retried = restart_under_load(cluster, base, auth, "gunicorn")

    assert_survived(answers, retried, base, auth, "gunicorn")
    photo_becomes_ready(base, auth)
    assert workers.poll() is None
    ready_again(base)


def test_after_the_restarts_the_audit_chain_and_the_read_models_are_intact(cosmo: Deployment) -> None:
    verified = cosmo.manage("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    checked = cosmo.manage("projections", "rebuild", "--all", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
