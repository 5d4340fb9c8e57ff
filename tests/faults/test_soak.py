"""A bounded soak over gunicorn and run_workers: no 5xx, flat memory, a store that still checks out.

Short in ``make test`` (``COSMO_SOAK_SECONDS``, default 30); ``make soak`` runs it for minutes
and prints the figures recorded in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from domain.service import PropertyService
from tests.conftest import database_url
from tests.faults.load import bearer, send
from tests.faults.soak import soak
from tests.faults.stack import PASSWORD, deployment, rss_kib

pytestmark = pytest.mark.http_server

SECONDS = float(os.environ.get("COSMO_SOAK_SECONDS", "30"))
WARM_UP_SECONDS = min(10.0, SECONDS / 4)
# Allocators and caches settle after the warm-up; a leak grows with the request count instead.
MAX_RSS_GROWTH = 1.25


def test_a_bounded_soak_gives_no_5xx_keeps_memory_flat_and_leaves_a_store_that_verifies(
    service: PropertyService, tmp_path: Path
) -> None:
    with deployment(database_url(), tmp_path) as cosmo:
        cosmo.create_user("alice")
        base, server = cosmo.gunicorn(workers=2, threads=4)
        workers = cosmo.run_workers()
        auth = bearer(base, "alice", PASSWORD)

        warm = soak(base, auth, WARM_UP_SECONDS)
        rss_start = rss_kib(server.pid), rss_kib(workers.pid)
        report = soak(base, auth, SECONDS - WARM_UP_SECONDS)
        rss_end = rss_kib(server.pid), rss_kib(workers.pid)

        deadline = time.monotonic() + 60
        uploads = warm.uploads + report.uploads
        pending = list(uploads)
        while pending:
            assert time.monotonic() < deadline, f"{len(pending)} photos not ready"
            pending = [
                i
                for i in pending
                if send(base, "GET", f"/api/images/{i}", headers=auth).body["status"] != "ready"
            ]
            time.sleep(0.2)
        verified = cosmo.manage("audit", "verify")
        checked = cosmo.manage("projections", "rebuild", "--all", "--check")

    figures = {
        "database": database_url().split(":", 1)[0],
        **report.summary(),
        "warm_up": warm.summary(),
        "server_rss_kib": {"start": rss_start[0], "end": rss_end[0]},
        "workers_rss_kib": {"start": rss_start[1], "end": rss_end[1]},
        "photos_ready": len(uploads),
        "audit_verify": verified.returncode == 0,
        "rebuild_check": checked.returncode == 0,
    }
    print(f"\nSOAK {json.dumps(figures)}")
    assert warm.server_errors == report.server_errors == 0, figures
    assert report.requests > 100, figures
    assert rss_end[0] <= rss_start[0] * MAX_RSS_GROWTH, figures
    assert rss_end[1] <= rss_start[1] * MAX_RSS_GROWTH, figures
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert checked.returncode == 0, checked.stdout + checked.stderr
