"""No HTML, no 500: the refusals Django makes itself are JSON in every way Cosmo is served.

With DEBUG on, Django answers a bad Host or an oversized body with its debug page, which lists the
settings; ``make run DEBUG=1`` is a serving mode too. Each mode is a real server process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.conf import settings

from domain.service import PropertyService
from tests.api.conftest import NEW_PROPERTY, PASSWORD, make_user
from tests.api.test_http_server import gunicorn
from tests.security.http import json_error, manage_py_serve, raw

pytestmark = pytest.mark.http_server

TOO_BIG = 2**64  # beyond every 64-bit integer column and C long


SERVING_MODES = ["manage.py serve, DEBUG on", "manage.py serve, DEBUG off", "gunicorn"]


@pytest.fixture(params=SERVING_MODES)
def server(request: pytest.FixtureRequest, service: PropertyService) -> Iterator[str]:
    if request.param == "gunicorn":
        with gunicorn(1, "--workers", "1") as bases:
            yield bases[0]
    else:
        with manage_py_serve(debug=request.param.endswith("on")) as base:
            yield base


def login(base: str, username: str) -> dict[str, str]:
    body = json.dumps({"username": username, "password": PASSWORD}).encode()
    status, _, answer = raw(base, "POST", "/api/auth/token", body, {"Content-Type": "application/json"})
    assert status == 200, answer
    return {"Authorization": f"Bearer {json.loads(answer)['access']}"}


def test_refusals_are_json_4xx_in_every_serving_mode(server: str) -> None:
    make_user("mgr", hasher="pbkdf2_sha256")  # the servers run the production hashers
    make_user("aud", role="auditor", hasher="pbkdf2_sha256")
    manager, auditor = login(server, "mgr"), login(server, "aud")
    as_json = {"Content-Type": "application/json"}
    status, _, created = raw(
        server, "POST", "/api/properties", json.dumps(NEW_PROPERTY).encode(), manager | as_json
    )
    assert status == 201, created
    detail = f"/api/properties/{json.loads(created)['id']}"

    over_the_limit = str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    # Refused from the declared length alone: the body is never sent, let alone read.
    oversized = raw(server, "POST", "/api/auth/token", b"{", as_json | {"Content-Length": over_the_limit})
    assert (oversized[0], json_error(*oversized)["code"]) == (413, "request_too_large")
    oversized = raw(server, "PATCH", detail, b"{", manager | as_json | {"Content-Length": over_the_limit})
    assert (oversized[0], json_error(*oversized)["code"]) == (413, "request_too_large")
    photos = f"{detail}/images"
    form = {"Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(2**40)}
    oversized = raw(server, "POST", photos, b"--b\r\n", manager | form)
    assert (oversized[0], json_error(*oversized)["code"]) == (413, "upload_too_large")
    bad_host = raw(server, "GET", "/health", headers={"Host": "evil.example"})
    assert (bad_host[0], json_error(*bad_host)["code"]) == (400, "bad_request")

    nested = b"[" * 5000 + b"]" * 5000
    for path, headers in [("/api/auth/token", as_json), ("/api/properties", manager | as_json)]:
        deep = raw(server, "POST", path, nested, headers)
        assert (deep[0], json_error(*deep)["code"]) == (400, "parse_error")

    huge = [
        ("GET", f"{detail}?version={TOO_BIG}", b"", manager),
        ("GET", f"{detail}?version=-{TOO_BIG}", b"", manager),
        ("GET", f"/api/properties?page={TOO_BIG}", b"", manager),
        ("GET", f"/api/properties?page_size={TOO_BIG}", b"", manager),
        ("GET", f"/api/audit/events?after={TOO_BIG}", b"", auditor),
        ("GET", f"/api/audit/events?limit={TOO_BIG}", b"", auditor),
        ("GET", detail, b"", manager | {"X-Cosmo-Min-Position": str(TOO_BIG)}),
        ("GET", f"/api/properties/{TOO_BIG}", b"", manager),
        ("PATCH", detail, b'{"name": "New"}', manager | as_json | {"If-Match": f'"{TOO_BIG}"'}),
        ("PATCH", detail, b'{"rent": {"amount": %d, "currency": "EUR"}}' % TOO_BIG, manager | as_json),
        ("PATCH", detail, b'{"name": %d}' % 10**400, manager | as_json),
    ]
    for method, path, body, headers in huge:
        answer = raw(server, method, path, body, headers)
        json_error(*answer)
        assert answer[0] not in {401, 403}, (path, answer)
