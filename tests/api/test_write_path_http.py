"""The write path over a real threaded HTTP server: contention, retries and dropped connections."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from domain.service import PropertyService
from tests.api.conftest import NEW_PROPERTY, make_user
from tests.api.test_http_server import call, gunicorn, token
from tests.conftest import process_env
from tests.fixtures.tiny_png import tiny_png

pytestmark = pytest.mark.http_server


def at_once(count: int, request: Callable[[int], Any]) -> list[Any]:
    """Run ``request(n)`` for n in 0..count-1 on as many threads, released together."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = request(n)
        except Exception as error:  # noqa: BLE001 - reported by the caller's assertions
            results[n] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def server(service: PropertyService, var_dir: Path) -> Iterator[str]:
    """Two gunicorn processes of 8 threads each: requests contend within and across processes."""
    env = {**process_env(), "COSMO_VAR_DIR": str(var_dir)}
    with gunicorn(1, "--workers", "2", "--threads", "8", "--backlog", "256", env=env) as [base]:
        yield base


def bearer(base: str, username: str, role: str = "manager") -> dict[str, str]:
    make_user(username, role=role, hasher="pbkdf2_sha256")  # the server runs the production hashers
    return {"Authorization": f"Bearer {token(base, username)}"}


def test_concurrent_patches_without_if_match_all_succeed_and_every_position_agrees(server: str) -> None:
    auth, admin = bearer(server, "alice"), bearer(server, "root", role="admin")
    status, headers, created = call(server, "POST", "/api/properties", NEW_PROPERTY, **auth)
    assert (status, headers["X-Cosmo-Position"]) == (201, "1")
    path = f"/api/properties/{created['id']}"

    answers = at_once(50, lambda n: call(server, "PATCH", path, {"name": f"Name {n}"}, **auth))

    assert [answer[0] for answer in answers] == [200] * 50, answers
    assert sorted(int(answer[1]["ETag"].strip('"')) for answer in answers) == list(range(2, 52))
    assert sorted(int(answer[1]["X-Cosmo-Position"]) for answer in answers) == list(range(2, 52))
    assert call(server, "GET", "/ready")[2]["event_store_head"] == 51
    projections = call(server, "GET", "/api/projections", **admin)[2]["projections"]
    assert {p["name"]: p["head"] for p in projections} == {p["name"]: 51 for p in projections}
    stream = call(server, "GET", "/api/audit/events?limit=100", **admin)[2]["events"]
    assert [event["position"] for event in stream] == list(range(1, 52))
    history = call(server, "GET", f"{path}/history", **auth)[2]["events"]
    assert [event["position"] for event in history] == list(range(1, 52))
    assert [event["version"] for event in history] == list(range(1, 52))
    status, headers, _ = call(server, "GET", path, **auth)
    assert headers["ETag"] == '"51"'


def test_a_min_position_beyond_the_head_is_refused_at_once(server: str) -> None:
    auth = bearer(server, "alice")
    call(server, "POST", "/api/properties", NEW_PROPERTY, **auth)
    # A wait would end in 503 projection_behind; the 400 comes only from the check before any wait.
    status, _, body = call(server, "GET", "/api/properties", X_Cosmo_Min_Position="2", **auth)
    assert status == 400
    assert body["error"]["code"] == "invalid"
    assert body["error"]["fields"] == {
        "X-Cosmo-Min-Position": ["position 2 has not been recorded; the head is 1"]
    }
    assert call(server, "GET", "/api/properties", X_Cosmo_Min_Position="1", **auth)[0] == 200


def upload(base: str, path: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return raw_request(base, "POST", path, body, f"multipart/form-data; boundary={boundary}", headers)


def raw_request(
    base: str, method: str, path: str, body: bytes, content_type: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(base + path, data=body, method=method)
    request.add_header("Content-Type", content_type)
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def test_concurrent_uploads_to_one_property_all_succeed_and_leave_no_orphan_blob(
    server: str, var_dir: Path
) -> None:
    auth, admin = bearer(server, "alice"), bearer(server, "root", role="admin")
    _, _, created = call(server, "POST", "/api/properties", NEW_PROPERTY, **auth)
    path = f"/api/properties/{created['id']}/images"
    # Two of the ten are the same bytes: they share one content-addressed blob.
    photos = [tiny_png((n * 20, 100, 200 - n * 10)) for n in range(9)] + [tiny_png((0, 100, 200))]

    answers = at_once(10, lambda n: upload(server, path, photos[n], auth))

    assert [answer[0] for answer in answers] == [202] * 10, answers
    gallery = call(server, "GET", path, **auth)[2]["results"]
    assert len(gallery) == 10
    added = call(server, "GET", "/api/audit/events?type=ImageAdded&limit=100", **admin)[2]["events"]
    referenced = {event["data"]["file"]["sha256"] for event in added}
    stored = {blob.name for blob in (var_dir / "blobs").rglob("*") if blob.is_file()}
    assert len(stored) == 9
    assert stored <= referenced


def test_concurrent_duplicates_with_one_key_record_one_property(
    server: str, service: PropertyService
) -> None:
    auth = bearer(server, "alice")
    answers = at_once(
        6, lambda n: call(server, "POST", "/api/properties", NEW_PROPERTY, Idempotency_Key="dup", **auth)
    )
    assert [answer[0] for answer in answers] == [201] * 6, answers
    assert len({json.dumps(answer[2], sort_keys=True) for answer in answers}) == 1
    assert sum(answer[1].get("Idempotent-Replayed") == "true" for answer in answers) == 5
    assert service.recorder.max_notification_id() == 1


def test_a_client_that_hangs_up_after_sending_gets_the_first_answer_on_retry(
    server: str, service: PropertyService
) -> None:
    auth = bearer(server, "alice")
    body = json.dumps(NEW_PROPERTY).encode()
    address = urlsplit(server)
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.sendall(
            b"POST /api/properties HTTP/1.1\r\n"
            + f"Host: {address.netloc}\r\nAuthorization: {auth['Authorization']}\r\n".encode()
            + b"Content-Type: application/json\r\nIdempotency-Key: flaky-network\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
    deadline = time.monotonic() + 10
    while not service.recorder.max_notification_id():
        assert time.monotonic() < deadline, "the first request was never recorded"
        time.sleep(0.02)

    status, headers, created = call(
        server, "POST", "/api/properties", NEW_PROPERTY, Idempotency_Key="flaky-network", **auth
    )

    assert (status, headers["Idempotent-Replayed"], headers["X-Cosmo-Position"]) == (201, "true", "1")
    assert service.recorder.max_notification_id() == 1
    listed = call(server, "GET", "/api/properties", **auth)[2]
    assert [p["id"] for p in listed["results"]] == [created["id"]]
