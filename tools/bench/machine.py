"""What the figures were measured on: without it a rate in the results table means nothing."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from importlib.metadata import version
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def wrk_version(wrk: str | None) -> str:
    if wrk is None:
        return "not available"
    completed = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first = (completed.stdout or completed.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def describe(postgres_version: str | None, wrk: str | None) -> dict[str, str]:
    return {
        "CPUs (nproc)": str(os.cpu_count()),
        "CPU model": cpu_model(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": postgres_version or "not measured",
        "eventsourcing": version("eventsourcing"),
        "Django": version("Django"),
        "gunicorn": version("gunicorn"),
        "Pillow": version("Pillow"),
        "wrk": wrk_version(wrk),
    }
