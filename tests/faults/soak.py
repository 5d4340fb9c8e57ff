"""A bounded soak: mixed reads, writes and uploads from a few clients, with its figures.

``make soak`` runs it for minutes, ``make test`` for under a minute (``COSMO_SOAK_SECONDS``).
Bounded in time and in loops, and on loopback only.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.api.conftest import NEW_PROPERTY
from tests.api.test_write_path_http import upload
from tests.faults.load import Answer, send
from tests.fixtures.tiny_png import tiny_png

Operation = Callable[[int], Answer]


@dataclass
class SoakReport:
    seconds: float = 0.0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500 or status == 0)

    def percentile(self, q: int) -> float:
        if len(self.latencies) < 2:
            return 0.0
        return round(statistics.quantiles(self.latencies, n=100)[q - 1] * 1000, 1)

    def summary(self) -> dict[str, object]:
        return {
            "seconds": round(self.seconds, 1),
            "requests": self.requests,
            "requests_per_second": round(self.requests / self.seconds, 1) if self.seconds else 0,
            "statuses": dict(sorted(self.statuses.items())),
            "server_errors": self.server_errors,
            "p50_ms": self.percentile(50),
            "p99_ms": self.percentile(99),
            "uploads": len(self.uploads),
        }


def soak(
    base: str, auth: dict[str, str], seconds: float, clients: int = 4, max_loops: int = 100_000
) -> SoakReport:
    """Each client cycles register, read, rename, list, history, and every tenth loop uploads a photo.

    Every 25 loops a client moves on to the property it just registered, so the load stays level.
    """
    report = SoakReport()
    lock = threading.Lock()
    loops = itertools.count()
    deadline = time.monotonic() + seconds
    started = time.monotonic()

    def client(number: int) -> None:
        created = send(base, "POST", "/api/properties", {**NEW_PROPERTY, "name": f"Soak {number}"}, auth)
        path = f"/api/properties/{created.body['id']}"
        while time.monotonic() < deadline and (loop := next(loops)) < max_loops:
            body = {**NEW_PROPERTY, "name": f"Soak {number}-{loop}"}
            registered = send(base, "POST", "/api/properties", body, auth)
            if loop % 25 == 0 and registered.status == 201:  # histories stay short: the load stays level
                path = f"/api/properties/{registered.body['id']}"
            answers = [
                registered,
                send(base, "GET", path, headers=auth),
                send(base, "PATCH", path, {"name": f"Soak {number} {loop}"}, auth),
                send(base, "GET", "/api/properties?page_size=20", headers=auth),
                send(base, "GET", f"{path}/history", headers=auth),
            ]
            if loop % 10 == 0:
                started_upload = time.monotonic()
                status, _, image = upload(base, f"{path}/images", tiny_png((loop % 256, 80, 160)), auth)
                answers.append(
                    Answer("POST", "upload", status, time.monotonic() - started_upload, "", {}, image)
                )
                if status == 202:
                    with lock:
                        report.uploads.append(image["id"])
            with lock:
                for answer in answers:
                    report.statuses[answer.status] += 1
                    report.latencies.append(answer.seconds)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.seconds = time.monotonic() - started
    report.requests = sum(report.statuses.values())
    return report
