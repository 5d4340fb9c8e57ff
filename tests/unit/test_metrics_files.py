"""At a server's start the metrics files of dead processes go, and a live process's stay."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infrastructure import metrics


def test_only_the_files_of_processes_that_are_gone_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(metrics.MULTIPROC_DIR_VARIABLE, str(tmp_path))
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead = int(finished.stdout)
    names = [f"counter_{os.getpid()}.db", f"histogram_{dead}.db", f"counter_{dead}.db", "notes.txt"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    metrics.forget_dead_processes()
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([names[0], names[3]])
