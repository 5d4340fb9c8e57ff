"""Fifty writers at once over gunicorn, spread over many properties: no 5xx, no update lost.

``tests/api/test_write_path_http.py`` has fifty writers on one property; here they mix blind
writes (no If-Match, rerun on the winner's state) with read-modify-writes (If-Match, 412 when
someone got there first) across ten properties.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.service import PropertyService
from tests.api.conftest import NEW_PROPERTY
from tests.api.test_http_server import call, gunicorn
from tests.api.test_write_path_http import at_once, bearer
from tests.conftest import process_env

pytestmark = pytest.mark.http_server

WRITERS = 50
PROPERTIES = 10


@pytest.fixture
def base(service: PropertyService, tmp_path: Path) -> Iterator[str]:
    env = {**process_env(), "COSMO_VAR_DIR": str(tmp_path)}
    with gunicorn(1, "--workers", "2", "--threads", "8", "--backlog", "256", env=env) as [url]:
        yield url


def test_fifty_mixed_writers_on_ten_properties_get_no_5xx_and_lose_no_update(base: str) -> None:
    auth = bearer(base, "alice")
    ids = [
        call(base, "POST", "/api/properties", {**NEW_PROPERTY, "name": f"P{n}"}, **auth)[2]["id"]
        for n in range(PROPERTIES)
    ]

    def write(n: int) -> list[tuple[str, int, Any]]:
        path = f"/api/properties/{ids[n % PROPERTIES]}"
        answers = []
        for k in range(2):
            status, headers, _ = call(base, "PATCH", path, {"name": f"W{n}-{k}"}, **auth)
            answers.append(("blind", status, headers.get("ETag")))
        _, seen, _ = call(base, "GET", path, **auth)
        status, headers, _ = call(base, "PATCH", path, {"name": f"R{n}"}, If_Match=seen["ETag"], **auth)
        answers.append(("if-match", status, headers.get("ETag")))
        return answers

    results = at_once(WRITERS, write)

    assert not [r for r in results if isinstance(r, Exception)], results
    answers = [
        (n % PROPERTIES, kind, status, etag) for n, rs in enumerate(results) for kind, status, etag in rs
    ]
    assert Counter(status for _, kind, status, _ in answers if kind == "blind") == {200: 2 * WRITERS}
    assert {status for _, kind, status, _ in answers if kind == "if-match"} <= {200, 412}
    for index, property_id in enumerate(ids):
        versions = sorted(
            int(etag.strip('"')) for p, _, status, etag in answers if p == index and status == 200
        )
        current = call(base, "GET", f"/api/properties/{property_id}", **auth)[2]
        assert versions == list(range(2, current["version"] + 1))  # each success is one version, none lost
        history = call(base, "GET", f"/api/properties/{property_id}/history", **auth)[2]["events"]
        assert len(history) == current["version"]
