"""``make serve``: gunicorn and the workers as separate processes under honcho, DEBUG off.

The test starts what ``make serve`` starts after ``migrate`` (the Procfile, under honcho, with the
settings' .env and no DEBUG), on this run's database, then stops it as Ctrl-C or a service
manager would and checks that no process of it is left.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from domain.service import PropertyService
from tests.api.test_http_server import free_port
from tests.conftest import ROOT, process_env
from tests.security.http import raw

pytestmark = pytest.mark.http_server

BIN = Path(sys.executable).parent


def descendants(pid: int) -> set[int]:
    """Every process started, directly or not, by ``pid`` (from /proc: no library needed)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone while we looked
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until_ready(base: str, honcho: subprocess.Popen[bytes], log: Path) -> None:
    """Until gunicorn answers /ready and the workers say they run (a fresh database has no
    heartbeat yet for /ready to miss)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if raw(base, "GET", "/ready")[0] == 200 and "workers running" in log.read_text():
                return
        except OSError:
            pass
        assert honcho.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_make_serve_runs_gunicorn_and_the_workers_with_debug_off_and_stops_them_all(
    tmp_path: Path, service: PropertyService, stop_signal: signal.Signals
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    dotenv = tmp_path / ".env"
    # DEBUG=1 in .env loses to the environment make serve sets; the bind comes from .env.
    dotenv.write_text(f"COSMO_BIND=127.0.0.1:{port}\nCOSMO_WEB_WORKERS=1\nDEBUG=1\n")
    env = {
        **process_env(),
        "DEBUG": "0",
        "COSMO_ENV_FILE": str(dotenv),
        "COSMO_VAR_DIR": str(tmp_path),
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    with log.open("wb") as output:
        honcho = subprocess.Popen(
            [str(BIN / "honcho"), "--env", os.devnull, "start"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(base, honcho, log)
        processes = descendants(honcho.pid)
        commands = " ".join(Path(f"/proc/{pid}/cmdline").read_text() for pid in processes)
        assert "gunicorn" in commands
        assert "run_workers" in commands

        status, content_type, page = raw(base, "GET", "/api/docs")
        assert (status, content_type.split(";")[0]) == (200, "text/html")
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.decode())
        assert assets, page
        for asset in assets:
            assert raw(base, "GET", asset)[0] == 200, asset
        status, content_type, _ = raw(base, "GET", "/no-such-page")
        assert (status, content_type) == (404, "application/json")
        # DEBUG on (as .env asks, below the environment) would also answer Django's test host.
        assert raw(base, "GET", "/health", headers={"Host": "testserver"})[0] == 400
    finally:
        honcho.send_signal(stop_signal)
        honcho.wait(timeout=30)

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in processes if alive(pid)], log.read_text()
    text = log.read_text()
    assert "workers stopped" in text
    assert "Shutting down: Master" in text
