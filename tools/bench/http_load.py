"""Requests/s of the real endpoints through gunicorn, against plain Django CRUD on the same server.

Why: a request that registers a property does more than insert a row (append the event, then
catch the read model up before answering), while a read is served from the read model. Serving
both the real endpoints and plain-model endpoints (:mod:`tools.bench.views`) from one gunicorn, one
database and one JWT user shows what that design costs per request on this machine.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.bench.load_generator import LoadResult, Target, run_wrk, write_script
from tools.bench.postgres import connect
from tools.bench.results import Row

REPO = Path(__file__).resolve().parents[2]
USERNAME = "bench-manager"
BODY = json.dumps(
    {
        "name": "Harbour View",
        "kind": "apartment",
        "address": {"street": "1 Quay Street", "city": "Lisbon", "postal_code": "1100-001", "country": "PT"},
        "rent": {"amount": "1250.00", "currency": "EUR"},
    }
)
PATCH_BODY = json.dumps({"name": "Harbour View COUNTER"})
# PATCHes take turns over this many properties (created before the runs), so each one gathers
# some tens of versions over a run, not thousands: a write replays its property first.
PATCHED_ROWS = 100
# Sync workers, one request at a time each: with three or more threads per process on SQLite,
# concurrent POSTs stall until the library's 5 s pool timeout (see report.NOTES), and the bench
# would measure the stall.
WORKERS = 2
SERVER = f"gunicorn, {WORKERS} sync workers"


_CALLER_CONFIG = {
    "DEBUG",
    "DATABASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "ALLOWED_HOSTS",
    "LOG_LEVEL",
    "REDIS_URL",
}


def patch_target(collection: str, ids: list[str]) -> Target:
    """A rename of each of ``ids`` in turn, each request naming a new name."""
    paths = tuple(f"{collection}/{id_}" for id_ in ids)
    return Target("PATCH", paths[0], PATCH_BODY, paths)


@dataclass(frozen=True)
class Settings:
    seconds: int = 5
    rounds: int = 3
    warmup_seconds: int = 2
    connections: int = 4


def server_env(database_url: str, var_dir: Path) -> dict[str, str]:
    """Production settings (DEBUG off, a real key) plus the bench app; nothing from the caller's config."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _CALLER_CONFIG and not key.startswith("COSMO_")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tools.bench.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        COSMO_AUDIT_KEY=secrets.token_urlsafe(50),
        COSMO_MASTER_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=database_url,
        COSMO_VAR_DIR=str(var_dir),
        COSMO_ACCESS_TOKEN_MINUTES="60",  # noqa: S106 - a lifetime, not a secret
        LOG_LEVEL="WARNING",
    )
    return env


def manage(env: dict[str, str], *args: str, stdin: str = "") -> None:
    completed = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{completed.stdout}\n{completed.stderr}")


def migrate_with_manager(env: dict[str, str]) -> str:
    """Migrate the bench's database and make its manager (``USERNAME``); returns the password."""
    manage(env, "migrate", "--no-input")
    password = secrets.token_urlsafe(24)
    manage(
        env, "createuser", USERNAME, "--org", "acme", "--role", "manager", "--password-stdin", stdin=password
    )
    return password


def manager_token(port: int, password: str) -> str:
    """An access token of the bench's manager, from the server on ``port``."""
    credentials = json.dumps({"username": USERNAME, "password": password})
    return str(created(port, "/api/auth/token", credentials)["access"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def request_json(port: int, method: str, path: str, body: str = "", token: str = "") -> tuple[int, Any]:
    """One request on loopback; returns the status and the decoded JSON body."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body.encode() or None, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        return response.status, json.loads(payload) if payload else None
    finally:
        conn.close()


def created(port: int, path: str, body: str, token: str = "") -> dict[str, Any]:
    status, data = request_json(port, "POST", path, body, token)
    if status not in (200, 201):
        raise RuntimeError(f"POST {path} answered {status}: {data}")
    result: dict[str, Any] = data
    return result


def _wait_ready(port: int, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if request_json(port, "GET", "/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not become ready:\n{log_path.read_text()[-3000:]}")


@contextmanager
def gunicorn(env: dict[str, str], log_path: Path) -> Iterator[int]:
    """Serve ``infrastructure.wsgi`` on a free loopback port; stop the server on the way out."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "infrastructure.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={WORKERS}",
        "--worker-class=sync",
        "--timeout=60",
        "--graceful-timeout=5",
        "--log-level=warning",
    ]
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(port, server, log_path)
            yield port
        finally:
            stop(server)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not gone within 20 s: the bench never leaves processes behind."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class Pair:
    what: str
    cosmo: Target
    plain: Target
    baseline: str


def measure(
    database: str,
    database_url: str,
    workdir: Path,
    wrk: str,
    settings: Settings,
    log: Callable[[str], None],
) -> list[Row]:
    """Migrate, make a manager, serve, then load each real endpoint and its plain twin in turn."""
    (workdir / "static").mkdir(parents=True, exist_ok=True)
    env = server_env(database_url, workdir)
    password = migrate_with_manager(env)
    rows: list[Row] = []
    with gunicorn(env, workdir / "gunicorn.log") as port:
        token = manager_token(port, password)
        cosmo_ids = [created(port, "/api/properties", BODY, token)["id"] for _ in range(PATCHED_ROWS)]
        plain_ids = [created(port, "/bench/plain", BODY, token)["id"] for _ in range(PATCHED_ROWS)]
        cosmo_id, plain_id = cosmo_ids[0], plain_ids[0]
        pairs = [
            Pair(
                "POST /api/properties",
                Target("POST", "/api/properties", BODY),
                Target("POST", "/bench/plain", BODY),
                "plain model INSERT view",
            ),
            Pair(
                "GET /api/properties/{id}",
                Target("GET", f"/api/properties/{cosmo_id}"),
                Target("GET", f"/bench/plain/{plain_id}"),
                "plain model GET view",
            ),
            Pair(
                "GET /api/properties (a page of 20)",
                Target("GET", "/api/properties"),
                Target("GET", "/bench/plain"),
                "plain model list view",
            ),
            Pair(
                f"PATCH /api/properties/{{id}} (rename, {PATCHED_ROWS} rows in turn)",
                patch_target("/api/properties", cosmo_ids),
                patch_target("/bench/plain", plain_ids),
                "plain model read + UPDATE view",
            ),
        ]
        for pair in pairs:
            rows.append(_compare(database, pair, port, token, wrk, workdir, settings, log))
            if pair.cosmo.method == "POST":
                refresh_planner_statistics(database_url, log)
    return rows


def refresh_planner_statistics(database_url: str, log: Callable[[str], None]) -> None:
    """``ANALYZE`` a PostgreSQL database once the POST runs have filled its tables, before the reads.

    Why: the reads are measured seconds after a fresh database received thousands of rows, and the
    bench's cluster may run with autovacuum off: its tables would never have been analyzed. Without
    statistics the planner guesses a table's rows from its pages and the declared column widths (about
    2 KB a row here: a tenth of the rows there are), so ``generation = …`` alone looks as selective as
    the unique ``(generation, property_id)`` lookup, and the tie goes to the smaller ``listing_by_age``:
    each detail read walked the whole generation. The plain table's lookup by primary key wins its
    comparison either way (docs/adr/0033). A production database has statistics (autovacuum analyzes
    a table within a minute of its first rows); both sides get the same ``ANALYZE`` and neither view
    changes. SQLite is left as it is: nothing analyzes it in production either.
    """
    if not database_url.startswith("postgres"):
        return
    with connect(database_url) as conn:
        conn.execute("ANALYZE")
    log("  PostgreSQL: ANALYZE after the POST runs (the statistics autovacuum keeps in production)")


def _compare(
    database: str,
    pair: Pair,
    port: int,
    token: str,
    wrk: str,
    workdir: Path,
    settings: Settings,
    log: Callable[[str], None],
) -> Row:
    """Alternate short runs of the real endpoint and its plain twin; keep each one's median run.

    Alternating means a burst of load from elsewhere on the machine hits both sides alike.
    """
    scripts = {
        name: (f"http://127.0.0.1:{port}{target.path}", write_script(workdir, name, target, token))
        for name, target in (
            ("cosmo-" + pair.cosmo.method.lower(), pair.cosmo),
            ("plain-" + pair.plain.method.lower(), pair.plain),
        )
    }
    runs: dict[str, list[LoadResult]] = {name: [] for name in scripts}
    for url, script in scripts.values():
        run_wrk(wrk, url, script, seconds=settings.warmup_seconds, connections=settings.connections)
    for _ in range(settings.rounds):
        for name, (url, script) in scripts.items():
            runs[name].append(
                run_wrk(wrk, url, script, seconds=settings.seconds, connections=settings.connections)
            )
    cosmo, plain = (_median_run(results) for results in runs.values())
    for target, result in ((pair.cosmo, cosmo), (pair.plain, plain)):
        log(
            f"  {database} {target.method} {target.path}: {result.ok_per_second:,.0f} req/s,"
            f" p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms,"
            f" {result.status_errors} non-2xx, {result.socket_errors} socket errors (median run)"
        )
    return Row(
        what=pair.what,
        database=database,
        unit="req/s",
        rate=cosmo.ok_per_second,
        baseline=pair.baseline,
        baseline_rate=plain.ok_per_second,
        note=_note(cosmo, plain),
    )


def _median_run(results: list[LoadResult]) -> LoadResult:
    return sorted(results, key=lambda result: result.ok_per_second)[len(results) // 2]


def _note(cosmo: LoadResult, plain: LoadResult) -> str:
    note = f"p50 {cosmo.p50_ms:.1f} vs {plain.p50_ms:.1f} ms"
    errors = cosmo.status_errors + cosmo.socket_errors + plain.status_errors + plain.socket_errors
    if errors:
        note += f"; {errors} errors (non-2xx or socket)"
    return note


@contextmanager
def sqlite_database(workdir: Path) -> Iterator[str]:
    """A fresh SQLite file for the server (events and read models together, as in production)."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "cosmo.sqlite3"

    def remove() -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)

    remove()
    try:
        yield f"sqlite:///{path}"
    finally:
        remove()
