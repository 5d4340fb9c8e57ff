"""A Cosmo deployment in child processes, and a PostgreSQL cluster of the test's own to restart.

The fault tests and ``make soak`` drive real processes over loopback HTTP, as an operator would
run them: ``manage.py serve`` (what ``make run`` starts, with its in-process worker), gunicorn,
``run_workers``, and the ``audit verify`` / ``projections rebuild --check`` commands afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.api.test_http_server import call, free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"


def pg_bin(name: str) -> str:
    """Debian keeps initdb and pg_ctl off the PATH: ask pg_config where they are."""
    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout
    return str(Path(bindir.strip()) / name)


class PrivatePostgres:
    """A throwaway cluster on its own port and data directory; never the shared one on 5432."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="cosmo-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()
        self._as_postgres(
            pg_bin("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-c",
            "CREATE DATABASE cosmo",
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/cosmo"

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True)

    def _pg_ctl(self, *args: str) -> None:
        self._as_postgres(pg_bin("pg_ctl"), "-D", str(self.data), *args)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._pg_ctl("-o", options, "-l", str(self.log), "start", "-w")

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "fast", "-w")

    def crash(self) -> None:
        """Stop as a power cut would: no checkpoint, and WAL not yet flushed is lost."""
        self._pg_ctl("stop", "-m", "immediate", "-w")

    def remove(self) -> None:
        with suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Deployment:
    """Cosmo processes sharing one database and one var dir."""

    env: dict[str, str]
    var: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def manage(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def create_user(self, username: str, role: str = "manager") -> None:
        made = self.manage(
            "createuser", username, "--org", "acme", "--role", role, "--password-stdin", stdin=PASSWORD
        )
        assert made.returncode == 0, made.stderr

    def spawn(self, name: str, *command: str) -> subprocess.Popen[bytes]:
        log = (self.var / f"{name}.log").open("ab")
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes.append(process)
        return process

    def serve(self) -> tuple[str, subprocess.Popen[bytes]]:
        """``manage.py serve``, as ``make run`` starts it: the server with its worker thread."""
        port = free_port()
        process = self.spawn("serve", sys.executable, "manage.py", "serve", f"127.0.0.1:{port}")
        return wait_for_health(f"http://127.0.0.1:{port}"), process

    def gunicorn(self, workers: int = 2, threads: int = 8) -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        process = self.spawn(
            "gunicorn",
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{port}",
            "infrastructure.wsgi",
        )
        return wait_for_health(f"http://127.0.0.1:{port}"), process

    def run_workers(self) -> subprocess.Popen[bytes]:
        return self.spawn("workers", sys.executable, "manage.py", "run_workers", "--poll", "0.2")

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self.processes.remove(process)

    def stop_all(self) -> None:
        for process in list(self.processes):
            self.stop(process)


def wait_for_health(base: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if call(base, "GET", "/health")[0] == 200:
                return base
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{base} did not start"
        time.sleep(0.1)


@contextmanager
def deployment(database_url: str, var: Path, **settings: str) -> Iterator[Deployment]:
    """A migrated database with a manager ``alice`` and an ``auditor``; processes stopped at the end."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "COSMO_VAR_DIR": str(var),
        "DJANGO_SETTINGS_MODULE": "infrastructure.settings",
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "fault-tests-secret-key-" + "x" * 40),
        "COSMO_AUDIT_KEY": os.environ.get("COSMO_AUDIT_KEY", "fault-tests-audit-key-" + "y" * 40),
        **settings,
    }
    var.mkdir(parents=True, exist_ok=True)
    stack = Deployment(env, var)
    migrated = stack.manage("migrate", "--no-input")
    assert migrated.returncode == 0, migrated.stderr
    try:
        yield stack
    finally:
        stack.stop_all()


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (gunicorn's workers), from /proc."""
    total = 0
    for each in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except FileNotFoundError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in children:
            found += [int(child), *_children(int(child))]
    return found
