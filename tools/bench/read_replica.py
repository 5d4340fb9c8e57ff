"""Reads through a PostgreSQL streaming replica against the primary alone, and the replica's lag.

Why: ``DATABASE_REPLICA_URL`` moves read-model reads off the primary (docs/scale-out.md). Two
gunicorn servers on one primary, one of them also given a hot standby (``pg_basebackup``, the
clusters the fault tests use), are loaded in turn with the same reads. On one machine the replica
shares the CPUs with everything else, so the ratio shows what routing costs, not what a second
host would add. The lag is how long a position seen on the primary takes to be readable on the
replica, probed while a writer keeps the primary busy: what a read naming its write's position
waits at worst before it falls back to the primary.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tests.fixtures.postgres_cluster import PrivatePostgres
from tools.bench import http_load, report
from tools.bench.load_generator import LoadResult, Target, find_or_install_wrk, run_wrk, write_script
from tools.bench.results import Row

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "benchmarks.md"
HEADING = "## Read replica (issue 13)"
SEEDED = 200
LIVE_POSITION = (
    "SELECT t.position FROM projections_projectiontracking t JOIN projections_projectionstate s"
    " ON s.name = t.name AND s.generation = t.generation WHERE t.name = 'property_list'"
)


@dataclass(frozen=True)
class Lag:
    probes: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    replay_lag_p95_ms: float | None


@contextmanager
def primary_and_replica() -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    with ExitStack() as stack:
        primary = PrivatePostgres()
        stack.callback(primary.remove)
        replica = PrivatePostgres(replica_of=primary)
        stack.callback(replica.remove)
        yield primary, replica


def measure(
    wrk: str, workdir: Path, settings: http_load.Settings, log: Callable[[str], None]
) -> tuple[list[Row], Lag]:
    workdir.mkdir(parents=True, exist_ok=True)
    with primary_and_replica() as (primary, replica):
        plain = http_load.server_env(primary.url, workdir / "primary-only")
        routed = {**plain, "DATABASE_REPLICA_URL": replica.url, "COSMO_VAR_DIR": str(workdir / "replica")}
        password = http_load.migrate_with_manager(plain)
        with (
            http_load.gunicorn(plain, workdir / "primary-only.log") as plain_port,
            http_load.gunicorn(routed, workdir / "replica.log") as routed_port,
        ):
            token = http_load.manager_token(plain_port, password)
            ids = [
                http_load.created(plain_port, "/api/properties", http_load.BODY, token)["id"]
                for _ in range(SEEDED)
            ]
            targets = {
                "GET /api/properties/{id}": Target("GET", f"/api/properties/{ids[0]}"),
                "GET /api/properties (a page of 20)": Target("GET", "/api/properties"),
            }
            rows = [
                _compare(what, target, routed_port, plain_port, token, wrk, workdir, settings, log)
                for what, target in targets.items()
            ]
            lag = _lag_under_writes(primary, replica, plain_port, token, wrk, workdir, settings.seconds * 2)
    log(
        f"  replica lag under writes: p50 {lag.p50_ms:.1f} ms, p95 {lag.p95_ms:.1f} ms,"
        f" max {lag.max_ms:.1f} ms over {lag.probes} probes"
    )
    return rows, lag


def _compare(
    what: str,
    target: Target,
    routed_port: int,
    plain_port: int,
    token: str,
    wrk: str,
    workdir: Path,
    settings: http_load.Settings,
    log: Callable[[str], None],
) -> Row:
    """Alternating runs against the two servers (a burst from elsewhere hits both); median runs kept."""
    script = write_script(workdir, "replica-read", target, token)
    urls = {
        "replica": f"http://127.0.0.1:{routed_port}{target.path}",
        "primary": f"http://127.0.0.1:{plain_port}{target.path}",
    }
    runs: dict[str, list[LoadResult]] = {name: [] for name in urls}
    for url in urls.values():
        run_wrk(wrk, url, script, seconds=settings.warmup_seconds, connections=settings.connections)
    for _ in range(settings.rounds):
        for name, url in urls.items():
            runs[name].append(
                run_wrk(wrk, url, script, seconds=settings.seconds, connections=settings.connections)
            )
    routed, plain = (sorted(r, key=lambda run: run.ok_per_second)[len(r) // 2] for r in runs.values())
    log(f"  {what}: {routed.ok_per_second:,.0f} req/s with the replica, {plain.ok_per_second:,.0f} without")
    errors = routed.status_errors + routed.socket_errors + plain.status_errors + plain.socket_errors
    return Row(
        what=what,
        database="PostgreSQL + streaming replica",
        unit="req/s",
        rate=routed.ok_per_second,
        baseline="the same reads, primary only",
        baseline_rate=plain.ok_per_second,
        note=f"p50 {routed.p50_ms:.1f} vs {plain.p50_ms:.1f} ms" + (f"; {errors} errors" if errors else ""),
    )


def _lag_under_writes(
    primary: PrivatePostgres,
    replica: PrivatePostgres,
    port: int,
    token: str,
    wrk: str,
    workdir: Path,
    seconds: int,
) -> Lag:
    """Probe, while wrk POSTs: the primary's live position, then the time until the replica shows it."""
    script = write_script(workdir, "replica-writes", Target("POST", "/api/properties", http_load.BODY), token)
    writer = threading.Thread(
        target=run_wrk,
        args=(wrk, f"http://127.0.0.1:{port}/api/properties", script),
        kwargs={"seconds": seconds, "connections": 2},
    )
    waits: list[float] = []
    replay_lags: list[float] = []
    with (
        psycopg.connect(primary.url, autocommit=True) as on_primary,
        psycopg.connect(replica.url, autocommit=True) as on_replica,
    ):
        writer.start()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            wanted = _position(on_primary)
            seen_at = time.monotonic()
            while _position(on_replica) < wanted:
                time.sleep(0.0005)
            waits.append((time.monotonic() - seen_at) * 1000)
            lag = on_primary.execute(
                "SELECT EXTRACT(EPOCH FROM replay_lag) * 1000 FROM pg_stat_replication"
            ).fetchone()
            if lag and lag[0] is not None:
                replay_lags.append(float(lag[0]))
            time.sleep(0.02)
        writer.join()
    return Lag(
        probes=len(waits),
        p50_ms=statistics.median(waits),
        p95_ms=_p95(waits),
        max_ms=max(waits),
        replay_lag_p95_ms=_p95(replay_lags) if replay_lags else None,
    )


def _position(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(LIVE_POSITION).fetchone()
    return int(row[0]) if row else 0


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def section(rows: list[Row], lag: Lag | None, problem: str = "") -> list[str]:
    """The document's section: the table and the lag, or why it was not measured."""
    lines = [HEADING, ""]
    if lag is None:
        return [*lines, f"Not measured: {problem}", ""]
    replay = (
        f"; `pg_stat_replication.replay_lag` p95 {lag.replay_lag_p95_ms:.1f} ms"
        if lag.replay_lag_p95_ms is not None
        else ""
    )
    return [
        *lines,
        f"{http_load.SERVER} twice on one primary, one of them with `DATABASE_REPLICA_URL` on a hot"
        " standby streaming from it (both clusters the bench's own, on this machine); wrk reads each"
        " in turn. One machine cannot show a second host's capacity: the ratio is what routing reads"
        " to a replica costs or saves here. Load average (1/5/15 min) when written:"
        f" {' / '.join(f'{value:.2f}' for value in os.getloadavg())}.",
        "",
        report.table(rows),
        "",
        f"Replica lag while two connections POST: a position seen live on the primary was readable on"
        f" the replica after p50 {lag.p50_ms:.1f} ms, p95 {lag.p95_ms:.1f} ms, max {lag.max_ms:.1f} ms"
        f" ({lag.probes} probes){replay}. A read naming its write's position waits up to"
        " `COSMO_REPLICA_WAIT_SECONDS` (0.5 s) for that, then reads the primary.",
        "",
    ]


def main(argv: list[str]) -> int:
    """``python -m tools.bench.read_replica``: this section alone, written into docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="print only; docs are left alone")
    args = parser.parse_args(argv)
    wrk = find_or_install_wrk(print)
    if wrk is None:
        print("wrk is not available: nothing measured")
        return 2
    settings = http_load.Settings(seconds=args.seconds, rounds=args.rounds, connections=args.connections)
    rows, lag = measure(wrk, REPO / "var" / "bench" / "replica", settings, print)
    lines = section(rows, lag)
    print("\n".join(lines))
    if not args.quick:
        DOC.write_text(with_section(DOC.read_text(), lines))
    return 0


def with_section(document: str, lines: list[str]) -> str:
    """``document`` with this section replaced (or put before the notes); the rest kept as it was."""
    start = document.find(HEADING)
    if start < 0:
        start = end = document.find("## Notes")
    else:
        following = document.find("\n## ", start + len(HEADING))
        end = following + 1 if following >= 0 else len(document)
    return document[:start] + "\n".join(lines) + "\n" + document[end:]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
