"""Raw HTTP for hostile clients: any method, Host, Content-Length and bytes, over a real socket.

urllib and the DRF test client both fix up what a hostile client would not (the Host header, the
declared length, the encoding of the body), so the serving-mode tests speak ``http.client``.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from tests.api.test_http_server import free_port
from tests.conftest import ROOT, process_env


def raw(
    base: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    """Status, Content-Type and body; ``headers`` may name the Host and a Content-Length of their own."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
    try:
        given = {name.lower(): value for name, value in (headers or {}).items()}
        connection.putrequest(method, path, skip_host="host" in given, skip_accept_encoding=True)
        given.setdefault("content-length", str(len(body)))
        for name, value in given.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def json_error(status: int, content_type: str, body: bytes) -> dict[str, Any]:
    """The error a refusal carries; fails unless it is a 4xx in the one JSON error shape."""
    assert 400 <= status < 500, (status, body[:300])
    assert content_type.startswith("application/json"), (status, content_type, body[:300])
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "fields"}, error
    assert isinstance(error["code"], str), error
    assert isinstance(error["message"], str), error
    return dict(error)


@contextmanager
def manage_py_serve(debug: bool, **settings: str) -> Iterator[str]:
    """``manage.py serve`` (what ``make run`` starts) on this test run's database and a free port,
    with ``settings`` added to its environment."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env={**process_env(), "DEBUG": "1" if debug else "0", **settings},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if raw(base, "GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, f"{base} exited"
            assert time.monotonic() < deadline, f"{base} did not start"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
