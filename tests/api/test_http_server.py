"""Flows over real HTTP: one in-process server, then two gunicorn processes side by side."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from domain.service import PropertyService
from tests.api.conftest import NEW_PROPERTY, PASSWORD, make_user
from tests.conftest import ROOT, process_env


def call(
    base: str, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def token(base: str, username: str) -> str:
    status, _, body = call(base, "POST", "/api/auth/token", {"username": username, "password": PASSWORD})
    assert status == 200, body
    return str(body["access"])


@pytest.mark.http_server
def test_register_change_and_read_over_http(live_server: Any, service: PropertyService) -> None:
    make_user("alice")
    base = live_server.url
    auth = {"Authorization": f"Bearer {token(base, 'alice')}"}
    status, headers, created = call(base, "POST", "/api/properties", NEW_PROPERTY, **auth)
    assert (status, headers["ETag"]) == (201, '"1"')
    status, headers, changed = call(
        base, "PATCH", f"/api/properties/{created['id']}", {"name": "Harbour View"}, If_Match='"1"', **auth
    )
    assert (status, headers["ETag"], changed["name"]) == (200, '"2"', "Harbour View")
    status, _, listed = call(base, "GET", "/api/properties?search=harbour", **auth)
    assert (status, [p["name"] for p in listed["results"]]) == (200, ["Harbour View"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(count: int, *options: str, env: dict[str, str] | None = None) -> Iterator[list[str]]:
    """``count`` gunicorn processes on this test run's database, each with ``options``."""
    ports = [free_port() for _ in range(count)]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",  # the shipped one (make serve's); the options and --bind override it
                "python:infrastructure.gunicorn_config",
                *options,
                "--bind",
                f"127.0.0.1:{port}",
                "infrastructure.wsgi",
            ],
            cwd=ROOT,
            env=env or process_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base in bases:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if call(base, "GET", "/health")[0] == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"{base} did not start"
                time.sleep(0.1)
        yield bases
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def two_servers(service: PropertyService) -> Iterator[list[str]]:
    """Two gunicorn processes on the same database, as a load balancer would see them."""
    with gunicorn(2, "--workers", "1") as bases:
        yield bases


@pytest.mark.http_server
def test_a_write_on_one_process_is_read_on_the_other_at_once(two_servers: list[str]) -> None:
    make_user("alice", hasher="pbkdf2_sha256")  # the servers run the production hashers
    writer, reader = two_servers
    auth = {"Authorization": f"Bearer {token(writer, 'alice')}"}
    for n in range(10):
        status, _, created = call(
            writer, "POST", "/api/properties", {**NEW_PROPERTY, "name": f"P{n}"}, **auth
        )
        assert status == 201
        status, headers, seen = call(reader, "GET", f"/api/properties/{created['id']}", **auth)
        assert (status, seen["name"], headers["ETag"]) == (200, f"P{n}", '"1"')
        status, _, _ = call(reader, "PATCH", f"/api/properties/{created['id']}", {"name": f"Q{n}"}, **auth)
        assert status == 200
        status, _, seen = call(writer, "GET", f"/api/properties/{created['id']}", **auth)
        assert (seen["name"], seen["version"]) == (f"Q{n}", 2)
    status, _, listed = call(reader, "GET", "/api/properties?page_size=100", **auth)
    assert listed["count"] == 10


@pytest.mark.http_server
def test_concurrent_writes_on_a_threaded_server_all_succeed(
    live_server: Any, service: PropertyService
) -> None:
    """Regression: on SQLite, a catch-up once held the write lock while waiting for an event-store
    connection that a writer waiting for that lock held: requests hung for 5 s, then failed."""
    make_user("alice")
    base = live_server.url
    auth = {"Authorization": f"Bearer {token(base, 'alice')}"}
    statuses: list[int] = []

    def write(n: int) -> None:
        for k in range(4):
            body = {**NEW_PROPERTY, "name": f"T{n}-{k}"}
            statuses.append(call(base, "POST", "/api/properties", body, **auth)[0])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * 24
    _, _, listed = call(base, "GET", "/api/properties?page_size=100", **auth)
    assert listed["count"] == 24
