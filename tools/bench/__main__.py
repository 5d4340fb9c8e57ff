"""``make bench``: event appends, the audit chain, export, verify, projection rebuilds, the image
policy and HTTP requests, each against a baseline measured in the same run.

Runs in about ten minutes on two cores at the default sizes (``--million`` adds the 1M-event
logs and takes much longer), cleans up every server, file and database it made, prints the
tables, and (unless ``--quick``) rewrites ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tools.bench import (
    audit_bundle,
    chain_cost,
    event_append,
    event_log,
    http_load,
    image_report,
    image_upload,
    image_variants,
    log_report,
    log_scans,
    machine,
    postgres,
    read_replica,
    report,
    writers,
)
from tools.bench.image_upload import Latency
from tools.bench.image_variants import ImageFigure, VariantFigure
from tools.bench.load_generator import find_or_install_wrk
from tools.bench.results import Row, ScanRow

MILLION = 1_000_000

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / "var" / "bench"
DOC = REPO / "docs" / "benchmarks.md"


def log(message: str) -> None:
    print(message, flush=True)


def load_average() -> str:
    """Other work on the machine skews every rate: the document says how busy it was."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def code_version() -> str:
    """The commit measured, flagged when the working tree differs from it (the figures may not match it).

    Untracked files count too: a new module (an endpoint, a projection) changes what is measured.
    """

    def git(*args: str) -> str:
        completed = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return completed.stdout.strip() if completed.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown (not a git checkout)"
    status = git("status", "--porcelain").splitlines()
    untracked = sum(line.startswith("??") for line in status)
    changed = len(status) - untracked
    if not status:
        return commit
    return f"{commit}, with uncommitted work: {changed} changed and {untracked} untracked files"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--events", type=int, default=2000, help="events per case and repeat")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per case (the median is kept)")
    parser.add_argument("--seconds", type=int, default=5, help="length of each HTTP load run")
    parser.add_argument("--rounds", type=int, default=3, help="HTTP runs per endpoint (the median is kept)")
    parser.add_argument("--connections", type=int, default=4, help="concurrent HTTP connections")
    parser.add_argument(
        "--store-events", type=int, default=100_000, help="events in the seeded log for export/verify/rebuild"
    )
    parser.add_argument("--million", action="store_true", help="also export/verify/rebuild a 1M-event log")
    parser.add_argument("--uploads", type=int, default=10, help="12 MP photo uploads per database")
    parser.add_argument(
        "--photo-rounds", type=int, default=3, help="uploads of each fixture photo per database"
    )
    parser.add_argument("--skip-append", action="store_true", help="no event append section")
    parser.add_argument("--skip-chain", action="store_true", help="no write cost of the audit chain")
    parser.add_argument("--skip-scans", action="store_true", help="no export, verify or rebuild")
    parser.add_argument("--skip-bundle", action="store_true", help="no offline audit bundle")
    parser.add_argument("--skip-images", action="store_true", help="no image policy figures")
    parser.add_argument("--skip-uploads", action="store_true", help="no upload-to-ready latency")
    parser.add_argument("--skip-http", action="store_true", help="no HTTP load section")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--skip-replica", action="store_true", help="no reads through a streaming replica")
    parser.add_argument("--skip-writers", action="store_true", help="no concurrent writer processes")
    parser.add_argument("--quick", action="store_true", help="small smoke run; docs are left alone")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.repeats, args.seconds, args.rounds = 300, 1, 2, 1
        args.store_events, args.uploads, args.photo_rounds, args.million = 5000, 2, 1, False
    return args


def store_sizes(args: argparse.Namespace) -> list[int]:
    return sorted({args.store_events, *([MILLION] if args.million else [])})


@dataclass
class Findings:
    """Everything one run measured, section by section; empty where a section was skipped."""

    rows: list[Row] = field(default_factory=list)
    chain: list[Row] = field(default_factory=list)
    audit: list[ScanRow] = field(default_factory=list)
    rebuild: list[ScanRow] = field(default_factory=list)
    images: list[ImageFigure] = field(default_factory=list)
    variants: list[VariantFigure] = field(default_factory=list)
    latencies: list[Latency] = field(default_factory=list)
    upload_problem: str = ""
    seeding: list[str] = field(default_factory=list)
    bundles: list[audit_bundle.BundleRow] = field(default_factory=list)
    replica: list[str] = field(default_factory=list)
    writers: list[Row] = field(default_factory=list)


def run_scans(args: argparse.Namespace, server_url: str, found: Findings) -> None:
    """Seed a log per size and database, then export, verify and rebuild it (see bench.log_scans)."""
    stories = event_log.template()
    found.seeding.append(
        f"copies of {len(stories)} property stories ({sum(len(s.events) for s in stories)} events, mean state"
        f" {event_log.mean_state_bytes(stories)} B) recorded once through `PropertyService`, under fresh"
        f" ids, inserted by the chained recorder's `insert_events` in batches of {event_log.INSERT_BATCH}"
    )
    for size in store_sizes(args):
        log(f"export, verify, rebuild: a seeded log of {size:,} events")
        audit, rebuild = log_scans.measure_sqlite(WORK / "scan-sqlite", stories, size, log)
        found.audit += audit
        found.rebuild += rebuild
        if not args.skip_postgres:
            audit, rebuild = log_scans.measure_postgres(
                server_url, WORK / "scan-postgres", stories, size, log
            )
            found.audit += audit
            found.rebuild += rebuild


def run_uploads(args: argparse.Namespace, server_url: str, found: Findings) -> None:
    """Through gunicorn and a worker; a failure (an endpoint missing, say) becomes a TODO, not a number."""
    log(f"upload to ready: {args.uploads} phone photos and {args.photo_rounds} rounds of the fixture photos")
    try:
        with http_load.sqlite_database(WORK / "upload-sqlite-db") as url:
            found.latencies += image_upload.measure(
                "SQLite", url, WORK / "upload-sqlite", args.uploads, args.photo_rounds, log
            )
        if not args.skip_postgres:
            with postgres.throwaway_database(server_url, "upload") as url:
                found.latencies += image_upload.measure(
                    "PostgreSQL", url, WORK / "upload-postgres", args.uploads, args.photo_rounds, log
                )
    except Exception as error:
        found.upload_problem = f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
        log(f"  upload to ready NOT MEASURED: {found.upload_problem}")


def run_all(
    args: argparse.Namespace,
    append: event_append.Settings,
    http: http_load.Settings,
    wrk: str | None,
) -> Findings:
    server_url = postgres.server_url()
    found = Findings()
    if not args.skip_append:
        log(f"event append: {append.events} events per case, {append.repeats} repeats")
        found.rows += event_append.measure_sqlite(WORK / "events", append, log)
        if not args.skip_postgres:
            found.rows += event_append.measure_postgres(server_url, append, log)
    if not args.skip_chain:
        log(f"audit chain on the write path: {append.events} events per case, {append.repeats} repeats")
        found.chain += chain_cost.measure_sqlite(WORK / "chain", append, log)
        if not args.skip_postgres:
            found.chain += chain_cost.measure_postgres(server_url, append, log)
    if not args.skip_writers and not args.skip_postgres:
        settings = writer_settings(args)
        log(f"writer processes: 1 and {writers.WRITERS}, {settings.repeats} runs of {settings.seconds:g} s")
        found.writers = writers.measure(server_url, settings, log)
    if not args.skip_scans:
        run_scans(args, server_url, found)
    if not args.skip_bundle:
        log(f"offline audit bundle: one property's history in a log of {args.store_events:,} events")
        bundle_server = None if args.skip_postgres else server_url
        found.bundles = audit_bundle.measure_all(bundle_server, WORK / "bundle", args.store_events, log)
    if not args.skip_images:
        log(f"image policy: {args.repeats} runs per photo")
        found.images, found.variants = image_variants.measure(args.repeats, log)
    if not args.skip_uploads:
        run_uploads(args, server_url, found)
    if wrk is None:
        return found
    log(
        f"HTTP: {http_load.SERVER}, wrk {http.connections} connections,"
        f" {http.rounds} x {http.seconds} s per endpoint"
    )
    with http_load.sqlite_database(WORK / "http-sqlite") as url:
        found.rows += http_load.measure("SQLite", url, WORK / "http-sqlite", wrk, http, log)
    if not args.skip_postgres:
        with postgres.throwaway_database(server_url) as url:
            found.rows += http_load.measure("PostgreSQL", url, WORK / "http-postgres", wrk, http, log)
    if not args.skip_postgres and not args.skip_replica:
        run_replica(wrk, http, found)
    return found


def run_replica(wrk: str, http: http_load.Settings, found: Findings) -> None:
    """Clusters of the bench's own (initdb needs root to switch to ``postgres``): a failure is reported."""
    log("read replica: reads with and without a streaming replica, and its lag under writes")
    try:
        rows, lag = read_replica.measure(wrk, WORK / "replica", http, log)
    except Exception as error:
        problem = f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
        log(f"  read replica NOT MEASURED: {problem}")
        found.replica = read_replica.section([], None, problem)
        return
    found.replica = read_replica.section(rows, lag)


def writer_settings(args: argparse.Namespace) -> writers.Settings:
    return writers.Settings(seconds=args.seconds, repeats=args.repeats)


def skipped(args: argparse.Namespace) -> str:
    names = [
        "append",
        "chain",
        "scans",
        "bundle",
        "images",
        "uploads",
        "http",
        "postgres",
        "replica",
        "writers",
    ]
    chosen = [f"--skip-{name}" for name in names if getattr(args, f"skip_{name}")]
    return ", ".join(chosen) if chosen else "none: every section ran"


def how(
    args: argparse.Namespace,
    append: event_append.Settings,
    http: http_load.Settings,
    wrk: str | None,
    found: Findings,
    load: str,
    code: str,
    seconds: float,
) -> dict[str, str]:
    """The conditions of the run, for the document: what was built, loaded and for how long."""
    databases = [{"ENGINE": "django.db.backends.sqlite3", "NAME": str(WORK / "events")}]
    if not args.skip_postgres:
        databases.append(postgres.django_database(postgres.server_url()))
    modules = sorted({event_append.service_env(database)["PERSISTENCE_MODULE"] for database in databases})
    sizes = " and ".join(f"{size:,}" for size in store_sizes(args))
    million = "included" if args.million else "not run (pass `--million`, which takes much longer)"
    return {
        "command": "`make bench` (PostgreSQL from `BENCH_POSTGRES_URL`, default the `test` server)",
        "code": code,
        "sections skipped": skipped(args),
        "event append": (
            f"{append.events} events per case after {append.warmup_events} warm-up events,"
            f" median of {append.repeats} repeats, raw and service runs interleaved; the service is"
            " built as the app builds it (`event_store_env` of a Django database entry) on a"
            " throwaway SQLite file and a throwaway PostgreSQL database"
        ),
        "event store": ", ".join(f"`{module}`" for module in modules),
        "audit chain on the write path": (
            f"the same {append.events} events per case after {append.warmup_events} warm-up events,"
            f" median of {append.repeats} repeats, chained and plain runs alternating"
        ),
        "seeded logs (export, verify, rebuild)": (
            f"{sizes} events on each database, the 1,000,000-event log {million}; "
            + ("; ".join(found.seeding) or "not seeded")
            + "; every event therefore has a real chain link (verify passes), but the copies of an"
            " event share its timestamp and actor"
        ),
        "image policy": f"median of {args.repeats} runs per photo, alternating with the baseline",
        "upload to ready": (
            f"per database, {args.uploads} uploads of the 12 MP photo and {args.photo_rounds} of each"
            f" fixture photo, interleaved, one at a time, through {http_load.SERVER} and one"
            f" `manage.py run_workers`, `tools.bench.settings`, DEBUG off, local-disk media"
        ),
        "HTTP": (
            "not measured (wrk unavailable)"
            if wrk is None
            else f"{http_load.SERVER} serving `infrastructure.wsgi` with DEBUG off and `tools.bench.settings`"
            f" (production settings plus the plain-model endpoints); wrk, 1 thread, {http.connections}"
            f" connections, {http.warmup_seconds} s warm-up then {http.rounds} runs of {http.seconds} s"
            " per endpoint alternating with its baseline (median run kept), the JWT of one manager,"
            " loopback; rates count 2xx answers only"
        ),
        "load average (1/5/15 min) at start, at end": f"{load}, {load_average()}",
        "wall time": f"{seconds:.0f} s",
    }


def sections(args: argparse.Namespace, found: Findings) -> list[list[str]]:
    sizes = " and ".join(f"{size:,}" for size in store_sizes(args)) + " events"
    upload_setup = (
        f"{http_load.SERVER}, `tools.bench.settings`, DEBUG off, a throwaway database and media directory"
    )
    parts = [
        log_report.audit_section(found.chain, found.audit, sizes),
        log_report.rebuild_section(found.rebuild, sizes),
        writers.section(found.writers, writer_settings(args)),
        audit_bundle.section(found.bundles),
        image_report.section(
            found.images, found.variants, found.latencies, found.upload_problem, upload_setup
        ),
        found.replica,
    ]
    return [part for part in parts if part]


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

    found = run_all(args, append, http, wrk)

    log("")
    log(report.table(found.rows))
    log("")
    log(" ".join(report.reading(found.rows)))
    extra = sections(args, found)
    for section in extra:
        log("")
        log("\n".join(section))
    seconds = time.monotonic() - started
    log(f"\n(took {seconds:.0f} s)")
    if args.quick:
        log("--quick: docs/benchmarks.md left as it was")
        return 0
    parameters = how(args, append, http, wrk, found, load, code, seconds)
    previous = DOC.read_text() if DOC.exists() else ""
    DOC.write_text(
        report.document(found.rows, machine.describe(pg_version, wrk), parameters, extra, previous)
    )
    log(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
