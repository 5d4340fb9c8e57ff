"""Upload-to-ready latency of a photo through the running service, next to the policy's own time.

Why: what a user waits for after ``POST /api/properties/{id}/images`` answers 202 is the whole
pipeline: the upload checks and the ``ImageAdded`` event, the worker noticing it (NOTIFY on
PostgreSQL, the API's wake-up datagram on SQLite), making the variants, storing them, recording
``ImageProcessed`` and
catching the ``property_detail`` read model up, which is what ``GET /api/images/{id}`` reads. The
baseline is the part of that which is unavoidable: ``make_variants`` of the same photo measured
in-process in the same run (:mod:`tools.bench.image_variants`).

The service is gunicorn (as in :mod:`tools.bench.http_load`) plus one ``manage.py run_workers`` at its
default poll interval, against a throwaway database and a throwaway media directory; uploads go
one at a time, so each latency is the pipeline's, not a queue's. A random pause of up to one poll
interval comes before each upload: sent right after the previous photo turned ready, an upload
would always find the worker at the start of its sleep and every SQLite figure would be a full
poll interval too high.

The moment a photo turns ready is watched in the read model the GET reads (``ReadModelWatch``,
a one-row query every 2 ms on a connection of the bench's own), and then confirmed by a
``GET /api/images/{id}`` whose answer stops the clock. Polling the GET every 25 ms instead added
half an interval (~12 ms) on average to every figure, and its ~40 requests a second took ~4 ms of
gunicorn CPU each from the two cores the policy works on: the bench measured its own polling.
The figure is the same quantity, measured closer: the first GET that can say ``ready``, answered.
"""

from __future__ import annotations

import http.client
import json
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from tools.bench import http_load
from tools.bench.image_variants import PHONE, inputs

POLL_SECONDS = 0.025  # GET polls, only when the read model is not where the watch looks
WATCH_SECONDS = 0.002
WORKER_POLL_SECONDS = 1.0  # run_workers' default --poll
READY_TIMEOUT_SECONDS = 120
WORKER = (
    "`manage.py run_workers` (default poll 1 s; woken at once on SQLite by the API's datagram,"
    " on PostgreSQL by NOTIFY)"
)
SMALL = "corpus photos (0.1-1.4 MP)"


@dataclass(frozen=True)
class Latency:
    """Milliseconds per upload of one kind of photo, through one database."""

    what: str
    database: str
    accepted_ms: list[float]
    ready_ms: list[float]

    @property
    def samples(self) -> int:
        return len(self.ready_ms)

    @property
    def accepted_p50(self) -> float:
        return statistics.median(self.accepted_ms)

    @property
    def ready_p50(self) -> float:
        return statistics.median(self.ready_ms)

    @property
    def ready_p95(self) -> float:
        if len(self.ready_ms) < 2:
            return self.ready_ms[0]
        return statistics.quantiles(self.ready_ms, n=20, method="inclusive")[18]


def _multipart(filename: str, data: bytes, caption: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="caption"\r\n\r\n{caption}\r\n'.encode(),
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _upload(port: int, token: str, property_id: str, filename: str, data: bytes) -> dict[str, Any]:
    body, content_type = _multipart(filename, data, "bench upload")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            f"/api/properties/{property_id}/images",
            body=body,
            headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
        )
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    if response.status != 202:
        raise RuntimeError(f"upload of {filename} answered {response.status}: {payload[:500]!r}")
    answer: dict[str, Any] = json.loads(payload)
    return answer


class ReadModelWatch:
    """Whether the read model row that ``GET /api/images/{id}`` reads has left ``pending``.

    One small query on a connection of its own (autocommit, so each sees the latest commit):
    ~0.1 ms of database time, where a GET through gunicorn costs ~4 ms of its CPU.
    """

    def __init__(self, database_url: str) -> None:
        url = urlsplit(database_url)
        if url.scheme == "sqlite":  # sqlite:///relative or sqlite:////absolute
            self._sqlite: sqlite3.Connection | None = sqlite3.connect(
                f"file:{url.path[1:]}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
            self._postgres: psycopg.Connection[Any] | None = None
        else:
            self._sqlite = None
            self._postgres = psycopg.connect(database_url, autocommit=True)

    def settled(self, image_id: str) -> bool:
        query = "SELECT 1 FROM projections_galleryimage WHERE image_id = {} AND status IN ('ready', 'failed')"
        if self._sqlite is not None:  # Django keeps a UUIDField as 32 hex digits on SQLite
            row = self._sqlite.execute(query.format("?"), (uuid.UUID(image_id).hex,)).fetchone()
        else:
            assert self._postgres is not None
            row = self._postgres.execute(query.format("%s"), (uuid.UUID(image_id),)).fetchone()
        return row is not None

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._postgres is not None:
            self._postgres.close()


def _wait_ready(port: int, token: str, image_id: str, watch: ReadModelWatch) -> None:
    """Until the read model has settled the photo, then GETs until the API says ``ready``."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not watch.settled(image_id):
        if time.monotonic() >= deadline:
            raise RuntimeError(f"image {image_id} was not ready after {READY_TIMEOUT_SECONDS} s")
        time.sleep(WATCH_SECONDS)
    while time.monotonic() < deadline:
        status, data = http_load.request_json(port, "GET", f"/api/images/{image_id}", token=token)
        if status == 200 and data["status"] == "ready":
            return
        if status == 200 and data["status"] == "failed":
            raise RuntimeError(f"image {image_id} failed: {data.get('failure')}")
        if status not in (200, 404):  # 404: the read model has not seen it yet
            raise RuntimeError(f"GET /api/images/{image_id} answered {status}: {data}")
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"image {image_id} was not ready after {READY_TIMEOUT_SECONDS} s")


@contextmanager
def run_workers(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One background worker process (image policy and projections); stopped with SIGTERM."""
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "run_workers"],
            cwd=http_load.REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield worker
        finally:
            http_load.stop(worker)


def _uploads(phone_uploads: int, small_rounds: int) -> list[tuple[str, str, bytes]]:
    """(kind, filename, bytes) in the order sent: the kinds interleaved, so drift hits both."""
    photos = inputs()
    phone = next(data for name, data in photos if name == PHONE)
    small = [(name, data) for name, data in photos if name != PHONE] * small_rounds
    sequence: list[tuple[str, str, bytes]] = []
    for i in range(max(phone_uploads, len(small))):
        if i < phone_uploads:
            sequence.append((PHONE, "IMG_4032.jpg", phone))
        if i < len(small):
            sequence.append((SMALL, small[i][0], small[i][1]))
    return sequence


def measure(
    database: str,
    database_url: str,
    workdir: Path,
    phone_uploads: int,
    small_rounds: int,
    log: Callable[[str], None],
) -> list[Latency]:
    """Migrate, make a manager and a property, serve, run a worker, then upload and poll one by one."""
    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "static").mkdir(parents=True)
    try:
        env = http_load.server_env(database_url, workdir)
        password = http_load.migrate_with_manager(env)
        accepted: dict[str, list[float]] = {}
        ready: dict[str, list[float]] = {}
        with (
            http_load.gunicorn(env, workdir / "gunicorn.log") as port,
            run_workers(env, workdir / "workers.log") as worker,
            closing(ReadModelWatch(database_url)) as watch,
        ):
            token = http_load.manager_token(port, password)
            property_id = str(http_load.created(port, "/api/properties", http_load.BODY, token)["id"])
            pauses = random.Random(7)
            for kind, filename, data in _uploads(phone_uploads, small_rounds):
                time.sleep(pauses.uniform(0, WORKER_POLL_SECONDS))
                if worker.poll() is not None:
                    raise RuntimeError(
                        f"run_workers exited:\n{(workdir / 'workers.log').read_text()[-3000:]}"
                    )
                started = time.perf_counter()
                image = _upload(port, token, property_id, filename, data)
                accepted.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
                _wait_ready(port, token, image["id"], watch)
                ready.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        results = [Latency(kind, database, accepted[kind], ready[kind]) for kind in ready]
        for result in results:
            log(
                f"  {database} upload to ready, {result.what}: p50 {result.ready_p50:,.0f} ms,"
                f" p95 {result.ready_p95:,.0f} ms ({result.samples} uploads; 202 after"
                f" {result.accepted_p50:,.0f} ms)"
            )
        return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
