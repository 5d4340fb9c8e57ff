"""Schemathesis against a live server: every check, every phase, zero failures.

Examples, coverage, fuzzing and stateful phases (the schema's links chain a registered property
into its reads, changes, photos and history), a fixed seed and a bounded time, with a manager's
token. What OpenAPI cannot say about a request is in ``schemathesis_hooks.py``; the run's settings
are in ``schemathesis.toml``. A failure prints schemathesis's own report, with a curl line that
reproduces each finding.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.tokens import CosmoRefreshToken
from domain.service import PropertyService
from tests.api.conftest import make_user
from tests.conftest import ROOT

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = "1"
MAX_SECONDS = "100"


@pytest.mark.http_server
def test_schemathesis_finds_nothing_wrong(live_server: Any, service: PropertyService, tmp_path: Path) -> None:
    manager = make_user("alice")
    env = {
        **os.environ,
        "COSMO_SCHEMATHESIS_TOKEN": str(CosmoRefreshToken.for_user(manager).access_token),
        "PYTHONPATH": str(ROOT),  # for the hooks module
    }
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "--config-file",
            str(CONFIG),
            "run",
            f"{live_server.url}/api/schema",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--seed",
            SEED,
            "--max-examples",
            "20",
            "--max-time",
            MAX_SECONDS,
            "--no-color",
        ],
        cwd=tmp_path,  # schemathesis keeps its own files in the working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=int(MAX_SECONDS) + 120,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-30_000:]
