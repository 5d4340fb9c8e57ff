"""Clients that keep writing while something breaks, and what every answer looked like."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from tests.api.conftest import NEW_PROPERTY


@dataclass(frozen=True)
class Answer:
    method: str
    path: str
    status: int
    seconds: float
    content_type: str
    headers: dict[str, str]
    body: Any
    started: float = 0.0  # time.monotonic() when it was sent


def send(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    timeout: float = 30,
) -> Answer:
    """One request; the answer whatever it is: an HTML page or a refused connection (status 0) too.

    (``tests.api.test_http_server.call`` expects JSON and a listening server; here neither holds.)
    """
    payload = data if data is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=payload, method=method)
    if data is None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, answer_headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, raw, answer_headers = error.code, error.read(), dict(error.headers)
    except OSError as error:
        return Answer(method, path, 0, time.monotonic() - started, "", {}, repr(error), started)
    elapsed = time.monotonic() - started
    content_type = answer_headers.get("Content-Type", "")
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw[:200].decode(errors="replace")
    return Answer(method, path, status, elapsed, content_type, answer_headers, parsed, started)


@dataclass
class SteadyWriter:
    """Registers a property every ``interval`` seconds on a thread until stopped.

    Each request carries its own Idempotency-Key, as a careful client's would, so that one refused
    with a 503 can be sent again without risk of recording it twice (``retry_refused``).
    """

    base: str
    headers: dict[str, str]
    label: str = "Steady"
    interval: float = 0.02
    answers: list[Answer] = field(default_factory=list)
    sent: list[tuple[Any, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> SteadyWriter:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=60)
        return self.answers

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            body, key = {**NEW_PROPERTY, "name": f"{self.label} {n}"}, f"{self.label}-{n}"
            self.sent.append((body, key))
            self.answers.append(self._post(body, key))
            self._stop.wait(self.interval)

    def retry_refused(self) -> list[Answer]:
        """Once stopped: every request that got a 503, sent again with its Idempotency-Key."""
        return [
            self._post(body, key)
            for (body, key), answer in zip(self.sent, self.answers, strict=True)
            if answer.status == 503
        ]

    def _post(self, body: Any, key: str) -> Answer:
        return send(self.base, "POST", "/api/properties", body, {**self.headers, "Idempotency-Key": key})


def bearer(base: str, username: str, password: str) -> dict[str, str]:
    answer = send(base, "POST", "/api/auth/token", {"username": username, "password": password})
    assert answer.status == 200, answer
    return {"Authorization": f"Bearer {answer.body['access']}"}
