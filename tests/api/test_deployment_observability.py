"""A deployment's logs and metrics: gunicorn (master and two workers) and ``run_workers``, as real processes.

Every line is one JSON object with the time, level, logger, message, request id, actor and
organisation; request lines (4xx included) and a worker's lines about a request's photo name the
request; no line is written twice, with DEBUG on or off. ``/metrics`` adds up what each process
counted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from api.middleware import REQUEST_ID_HEADER
from domain.audit import AuditContext, Role, acting_as
from domain.image import ImageFile
from domain.service import PropertyService
from tests.api.conftest import NEW_PROPERTY, make_user
from tests.api.test_http_server import call, free_port, token
from tests.api.test_metrics import SCRAPE_TOKEN, Samples, samples_of, value
from tests.conftest import ROOT, process_env
from tests.faults.stack import wait_for_health

FIELDS = {"time", "level", "logger", "message", "request_id", "actor", "organisation"}
# Recorded as uploaded, but its original was never stored: the worker fails it, for that request.
LOST_PHOTO = ImageFile(sha256="ab" * 32, bytes=52_000, width=800, height=600, format="jpeg", filename="a.jpg")


def spawn(log: Path, env: dict[str, str], *command: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=15)


def lines_of(log: Path) -> list[dict[str, Any]]:
    raw = [line for line in log.read_text().splitlines() if line.strip()]
    assert len(set(raw)) == len(raw), "a line was written twice"
    parsed = []
    for line in raw:
        record = json.loads(line)  # every line, gunicorn's own included, is JSON
        assert isinstance(record, dict), line
        assert set(record) >= FIELDS, line
        parsed.append(record)
    return parsed


def wait_for(log: Path, text: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"no {text!r} in {log.read_text()[-2000:]}"
        time.sleep(0.2)


def scrape(base: str) -> Samples:
    request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return samples_of(response.read().decode())


def scrape_until(base: str, done: Callable[[Samples], bool], seconds: float = 30) -> Samples:
    deadline = time.monotonic() + seconds
    while not done(samples := scrape(base)):
        assert time.monotonic() < deadline, samples
        time.sleep(0.2)
    return samples


@pytest.mark.http_server
@pytest.mark.parametrize("debug", ["0", "1"])
def test_a_deployment_logs_json_lines_naming_the_request_and_adds_up_its_processes_metrics(
    service: PropertyService, tmp_path: Path, debug: str
) -> None:
    """gunicorn (two workers) and run_workers, each a process of its own, as in production."""
    make_user("alice", hasher="pbkdf2_sha256")  # the server runs the production hashers
    env = {
        **process_env(),
        "DEBUG": debug,
        "COSMO_VAR_DIR": str(tmp_path),
        "LOG_LEVEL": "INFO",
        "COSMO_METRICS_TOKEN": SCRAPE_TOKEN,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the deployment's own: $COSMO_VAR_DIR/metrics
    log = tmp_path / "stderr.log"
    port = free_port()
    gunicorn = spawn(
        log,
        env,
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:infrastructure.gunicorn_config",
        "--workers",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
        "infrastructure.wsgi",
    )
    processes = [gunicorn]
    try:
        base = wait_for_health(f"http://127.0.0.1:{port}")
        for _ in range(4):
            assert call(base, "GET", "/no/such/page", X_Request_ID="req-missing")[0] == 404
        assert call(base, "GET", "/api/properties", X_Request_ID="req-anonymous")[0] == 401
        auth = {"Authorization": f"Bearer {token(base, 'alice')}"}
        status, headers, created = call(
            base, "POST", "/api/properties", NEW_PROPERTY, X_Request_ID="req-new", **auth
        )
        assert (status, headers[REQUEST_ID_HEADER]) == (201, "req-new")
        uploader = AuditContext(
            actor_id="id-alice",
            username="alice",
            role=Role.MANAGER,
            organisation="acme",
            request_id="req-photo",
        )
        with acting_as(uploader):
            service.add_image(UUID(created["id"]), LOST_PHOTO)
        processes.append(spawn(log, env, sys.executable, "manage.py", "run_workers", "--poll", "0.2"))
        samples = scrape_until(
            base, lambda s: value(s, "cosmo_events_appended_total", type="cosmo.image.processing_failed") == 1
        )
    finally:
        for process in processes:
            stop(process)

    # Counted by a gunicorn worker, by run_workers, and summed over both gunicorn workers.
    assert value(samples, "cosmo_events_appended_total", type="cosmo.property.registered") == 1
    assert value(samples, "cosmo_image_processing_seconds_count", outcome="failed") == 1
    missing = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(samples, "cosmo_http_request_duration_seconds_count", **missing) == 4

    lines = lines_of(log)
    by_request: dict[str | None, list[dict[str, Any]]] = {}
    for line in lines:
        by_request.setdefault(line["request_id"], []).append(line)

    missing_lines = [(line["logger"], line["level"]) for line in by_request["req-missing"]]
    assert sorted(missing_lines) == [("cosmo.access", "INFO")] * 4 + [("django.request", "WARNING")] * 4
    anonymous = {(line["logger"], line["level"]) for line in by_request["req-anonymous"]}
    assert anonymous == {("cosmo.access", "INFO"), ("django.request", "WARNING")}
    [access] = [line for line in by_request["req-new"] if line["logger"] == "cosmo.access"]
    assert (access["route"], access["status"], access["actor"], access["organisation"]) == (
        "api/properties",
        201,
        "alice",
        "acme",
    )
    assert access["message"] == "POST /api/properties 201"
    [failed] = by_request["req-photo"]
    assert (failed["logger"], failed["level"], failed["actor"]) == (
        "infrastructure.image_policy",
        "WARNING",
        "image-policy",
    )
    loggers = {line["logger"] for line in lines}
    assert {"gunicorn.error", "api.management.commands.run_workers"} <= loggers
    assert "gunicorn.access" not in loggers, "cosmo.access is the line per request"
    assert all(line["request_id"] is None for line in lines if line["logger"] == "gunicorn.error")
