"""``make bench``: measure event appends and HTTP requests against same-run baselines.

Runs everything in a few minutes on two cores, cleans up every server, file and database it
made, prints the table, and (unless ``--quick``) rewrites ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from bench import event_append, http_load, machine, postgres, report
from bench.load_generator import find_or_install_wrk
from bench.results import Row

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "var" / "bench"
DOC = REPO / "docs" / "benchmarks.md"


def log(message: str) -> None:
    print(message, flush=True)


def load_average() -> str:
    """Other work on the machine skews every rate: the document says how busy it was."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def code_version() -> str:
    """The commit measured, flagged when tracked files differ from it (the figures may not match it)."""

    def git(*args: str) -> str:
        completed = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return completed.stdout.strip() if completed.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit}, with uncommitted changes to tracked files" if dirty else commit


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--events", type=int, default=2000, help="events per case and repeat")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per case (the median is kept)")
    parser.add_argument("--seconds", type=int, default=5, help="length of each HTTP load run")
    parser.add_argument("--rounds", type=int, default=3, help="HTTP runs per endpoint (the median is kept)")
    parser.add_argument("--connections", type=int, default=4, help="concurrent HTTP connections")
    parser.add_argument("--skip-append", action="store_true", help="HTTP only")
    parser.add_argument("--skip-http", action="store_true", help="event append only")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--quick", action="store_true", help="small smoke run; docs are left alone")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.repeats, args.seconds, args.rounds = 300, 1, 2, 1
    return args


def run_all(
    args: argparse.Namespace,
    append: event_append.Settings,
    http: http_load.Settings,
    wrk: str | None,
) -> list[Row]:
    server_url = postgres.server_url()
    rows: list[Row] = []
    if not args.skip_append:
        log(f"event append: {append.events} events per case, {append.repeats} repeats")
        rows += event_append.measure_sqlite(WORK / "events", append, log)
        if not args.skip_postgres:
            rows += event_append.measure_postgres(server_url, append, log)
    if wrk is None:
        return rows
    log(
        f"HTTP: {http_load.SERVER}, wrk {http.connections} connections,"
        f" {http.rounds} x {http.seconds} s per endpoint"
    )
    with http_load.sqlite_database(WORK / "http-sqlite") as url:
        rows += http_load.measure("SQLite", url, WORK / "http-sqlite", wrk, http, log)
    if not args.skip_postgres:
        with postgres.throwaway_database(server_url) as url:
            rows += http_load.measure("PostgreSQL", url, WORK / "http-postgres", wrk, http, log)
    return rows


def how(
    args: argparse.Namespace,
    append: event_append.Settings,
    http: http_load.Settings,
    wrk: str | None,
    load: str,
    code: str,
    seconds: float,
) -> dict[str, str]:
    """The conditions of the run, for the document: what was built, loaded and for how long."""
    databases = [{"ENGINE": "django.db.backends.sqlite3", "NAME": str(WORK / "events")}]
    if not args.skip_postgres:
        databases.append(postgres.django_database(postgres.server_url()))
    modules = sorted({event_append.service_env(database)["PERSISTENCE_MODULE"] for database in databases})
    return {
        "command": "`make bench` (PostgreSQL from `BENCH_POSTGRES_URL`, default the `test` server)",
        "code": code,
        "event append": (
            f"{append.events} events per case after {append.warmup_events} warm-up events,"
            f" median of {append.repeats} repeats, raw and service runs interleaved; the service is"
            " built as the app builds it (`event_store_env` of a Django database entry) on a"
            " throwaway SQLite file and a throwaway PostgreSQL database"
        ),
        "event store": ", ".join(f"`{module}`" for module in modules),
        "HTTP": (
            "not measured (wrk unavailable)"
            if wrk is None
            else f"{http_load.SERVER} serving `infrastructure.wsgi` with DEBUG off and `bench.settings`"
            f" (production settings plus the plain-model endpoints); wrk, 1 thread, {http.connections}"
            f" connections, {http.warmup_seconds} s warm-up then {http.rounds} runs of {http.seconds} s"
            " per endpoint alternating with its baseline (median run kept), the JWT of one manager,"
            " loopback; rates count 2xx answers only"
        ),
        "load average (1/5/15 min) at start, at end": f"{load}, {load_average()}",
        "wall time": f"{seconds:.0f} s",
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    load, code = load_average(), code_version()
    pg_version: str | None = None
    if not args.skip_postgres:
        try:
            pg_version = postgres.server_version(postgres.server_url())
        except psycopg.OperationalError as error:
            log(f"PostgreSQL is not answering at {postgres.server_url()} ({error}).")
            log("Start it with `make postgres`, or pass --skip-postgres.")
            return 2
    wrk = None if args.skip_http else find_or_install_wrk(log)
    if not args.skip_http and wrk is None:
        log("wrk is not installed and could not be installed: the HTTP section is SKIPPED")
    append = event_append.Settings(
        events=args.events, warmup_events=max(50, args.events // 10), repeats=args.repeats
    )
    http = http_load.Settings(
        seconds=args.seconds, rounds=args.rounds, warmup_seconds=2, connections=args.connections
    )

    rows = run_all(args, append, http, wrk)

    log("")
    log(report.table(rows))
    log("")
    log(" ".join(report.reading(rows)))
    seconds = time.monotonic() - started
    log(f"\n(took {seconds:.0f} s)")
    if args.quick:
        log("--quick: docs/benchmarks.md left as it was")
        return 0
    parameters = how(args, append, http, wrk, load, code, seconds)
    DOC.write_text(report.document(rows, machine.describe(pg_version, wrk), parameters))
    log(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
