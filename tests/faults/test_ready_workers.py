"""``/ready`` sees the background workers: a dead in-process thread, a silent run_workers process."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from domain.service import PropertyService
from infrastructure import workers
from infrastructure.workers import Worker, start_in_thread
from projections.models import WorkerHeartbeat
from tests.conftest import ROOT, process_env

STALE_SECONDS = 1.5


@pytest.fixture(autouse=True)
def short_heartbeats(settings: Settings) -> None:
    settings.COSMO_READY_WORKER_STALE_SECONDS = STALE_SECONDS


def ready() -> tuple[int, str]:
    answer = APIClient().get("/ready")
    body = answer.json()
    return answer.status_code, body.get("error", {}).get("message", body.get("status"))


def run_workers() -> subprocess.Popen[bytes]:
    env = {**process_env(), "COSMO_WORKER_HEARTBEAT_SECONDS": "0.2"}
    command = [sys.executable, "manage.py", "run_workers", "--poll", "0.1"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


@pytest.mark.http_server
def test_ready_names_a_killed_run_workers_until_another_takes_its_place(service: PropertyService) -> None:
    first = run_workers()
    try:
        wait_for(lambda: WorkerHeartbeat.objects.exists())
        assert ready() == (200, "ready")

        first.send_signal(signal.SIGKILL)
        first.wait()
        wait_for(lambda: ready()[0] == 503, seconds=STALE_SECONDS + 5)
        _, message = ready()
        assert message.startswith("workers: worker image_policy (")
        assert "silent for" in message
    finally:
        first.kill()
        first.wait()

    second = run_workers()
    try:
        wait_for(lambda: ready()[0] == 200)
    finally:
        second.terminate()
        second.wait(timeout=15)
    assert not WorkerHeartbeat.objects.exists()  # a clean stop takes its row with it
    assert ready() == (200, "ready")


def test_ready_is_503_once_the_in_process_worker_thread_has_died(
    service: PropertyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "_in_process", [])
    stop = threading.Event()
    thread = start_in_thread(Worker(service, [], stop=stop, poll_interval=0.05))
    wait_for(lambda: ready()[0] == 200)

    stop.set()
    thread.join(timeout=10)

    assert ready() == (503, "workers: cosmo-workers:projections thread is dead")


def test_a_worker_round_that_fails_is_retried_instead_of_ending_the_thread(
    service: PropertyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    rounds: list[int] = []
    stop = threading.Event()
    worker = Worker(service, [], stop=stop, poll_interval=0.01)

    def flaky_round() -> int:
        rounds.append(len(rounds))
        if len(rounds) <= 3:
            raise ConnectionError("server closed the connection unexpectedly")
        stop.set()
        return 0

    monkeypatch.setattr(worker, "run_once", flaky_round)
    worker.backoff = workers.Backoff(first=0.01)
    worker.run()

    assert rounds == [0, 1, 2, 3]
