"""The counters and histograms of the processes that do the work, added up across processes.

gunicorn's workers and ``run_workers`` are separate processes, so a counter kept in one of them
alone would be wrong at /metrics. prometheus-client's multiprocess mode has each process write its
values to files in one directory (``PROMETHEUS_MULTIPROC_DIR``, by default ``metrics/`` under
``COSMO_VAR_DIR``), which the scrape reads and sums. The mode is chosen when prometheus-client is
first imported, so this module sets the directory before it imports the library.

Gauges that describe the system rather than a process (projection lag, image queue depth,
checkpoint age) are not here: the scrape reads them from the database (``api.views.metrics``).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from infrastructure import environment

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_VALUE_FILE = re.compile(r"^[a-z_]+_(\d+)\.db$")
_BASE_DIR = Path(__file__).resolve().parent.parent
env = environment.load(_BASE_DIR)


def multiprocess_dir() -> Path:
    """The directory every process on this host writes its values to (made if missing).

    By default a directory of the system's temporary files named after ``COSMO_VAR_DIR``: every
    process of one deployment shares it, the values die with the processes that wrote them (they
    are no state to back up), and a command that records nothing (``manage.py --help``) leaves no
    trace in the var directory. prometheus-client reads it from ``os.environ`` alone, so the value
    (from ``.env`` too) is put there.
    """
    deployment = hashlib.sha256(str(environment.var_dir(env, _BASE_DIR).resolve()).encode()).hexdigest()
    default = Path(tempfile.gettempdir()) / f"cosmo-metrics-{deployment[:16]}"
    directory = env.path(MULTIPROC_DIR_VARIABLE, default)
    os.environ[MULTIPROC_DIR_VARIABLE] = str(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def forget_dead_processes() -> None:
    """Removes the value files of processes that are no longer running, at a server's start.

    A running ``run_workers`` keeps writing to its open file, so only the dead are removed (a
    wiped directory would hide the live worker's counters until it restarts). Counters restart
    from the live processes' values, which Prometheus reads as a counter reset.
    """
    for path in multiprocess_dir().iterdir():
        match = _VALUE_FILE.match(path.name)
        if match and not _running(int(match.group(1))):
            path.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


multiprocess_dir()

from prometheus_client import Counter, Histogram  # noqa: E402 - after the directory is chosen

HTTP_REQUEST_SECONDS = Histogram(
    "cosmo_http_request_duration_seconds",
    "Time from the request reaching Django to its response, by URL pattern, method and status.",
    ["route", "method", "status"],
)
EVENTS_APPENDED = Counter(
    "cosmo_events_appended", "Events recorded in the event store, by type (the event's topic).", ["type"]
)
IMAGE_PROCESSING_SECONDS = Histogram(
    "cosmo_image_processing_seconds",
    "Time to make and store one photo's variants, by outcome (processed or failed).",
    ["outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, float("inf")),
)
LOGIN_FAILURES = Counter("cosmo_login_failures", "Logins refused for a wrong username or password.")
LOGIN_THROTTLED = Counter(
    "cosmo_login_throttled", "Logins refused (429) because the username or address used up its failures."
)
