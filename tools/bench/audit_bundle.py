"""An auditor's bundle: one property's history bundled on the server and verified offline.

Why: issue 10 asks what ``manage.py audit bundle --property`` and ``tools/cosmo_verify.py`` cost.
Each database gets a throwaway store seeded with :mod:`tools.bench.event_log` (so proofs run against a
tree of that many leaves), then one property with a long history (renames, rent changes, photos)
recorded through the service, a checkpoint, and the bundle written by ``audit bundle`` in a
Django process of its own. The verifier then runs as the auditor runs it: a ``python -S`` that
imports only ``cryptography`` (process start included), and in-process for the checks alone.

Then two ``--from 1 --to N`` bundles of the seeded log, a small and a ten times larger one, each
written by ``manage.py audit bundle`` and verified by the tool in processes of their own, with the
peak memory (RSS) of each: the bundle is NDJSON written and read line by line, so the larger
range should need about the same memory as the smaller one.

``python -m tools.bench.audit_bundle`` runs this section alone and prints its table.
"""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING

import dj_database_url

from tools.bench import event_log, http_load, log_scans, postgres

if TYPE_CHECKING:
    from infrastructure.transparency_log import TransparencyLog

CHANGES = 150
PHOTOS = 6
RUNS = 3
RANGES = (2_000, 20_000)
PROOF_LEAVES = 10_000

# Runs a script as ``python SCRIPT ARGS`` would, then reports the process's peak RSS on stderr.
PEAK_RSS = (
    "import resource, runpy, sys\n"
    "sys.argv = sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "finally:\n"
    "    print('peak-rss-kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


@dataclass(frozen=True)
class RangeRow:
    events: int
    bundle_bytes: int
    write_seconds: float
    write_peak_kib: int
    verify_seconds: float
    verify_peak_kib: int


@dataclass(frozen=True)
class BundleRow:
    database: str
    log_events: int
    property_events: int
    bundle_seconds: float
    bundle_bytes: int
    verify_process_seconds: float
    verify_checks_seconds: float
    problem: str = ""
    ranges: tuple[RangeRow, ...] = ()
    proof_each_seconds: float = 0.0
    proof_batched_seconds: float = 0.0


def record_and_bundle(out: Path) -> dict[str, object]:
    """In the Django child: one long property history, a checkpoint, then the timed bundle."""
    import django

    django.setup()
    from django.core.management import call_command

    from domain.audit import acting_as
    from domain.image import ImageFile
    from domain.service import PropertyChanges
    from domain.values import Address, PropertyKind, Rent
    from infrastructure.composition import property_service, transparency_log
    from tools.bench.event_append import CONTEXT

    service = property_service()
    address = Address(street="1 Rua Augusta", city="Lisboa", postal_code="1100-053", country="PT")
    with acting_as(CONTEXT):
        pid = service.register_property(
            name="Audited", kind=PropertyKind.APARTMENT, address=address, rent=Rent(Decimal(900), "EUR")
        ).id
        for k in range(PHOTOS):
            photo = ImageFile(f"{k:064x}", 3_400_000, 3024, 4032, "jpeg", f"IMG_{k}.jpg")
            image_id = service.add_image(pid, photo, f"Room {k}").id
            service.change_image_caption(image_id, f"Room {k}, sea view")
        for k in range(CHANGES):
            change = (
                PropertyChanges(name=f"Audited {k}")
                if k % 2
                else PropertyChanges(rent=Rent(Decimal(900 + k), "EUR"))
            )
            service.update_property(pid, change, None)
    log = transparency_log()
    log.make_checkpoint()
    importlib.import_module("api.management.commands.audit")  # start-up is not the bundle's cost
    started = time.perf_counter()
    call_command("audit", "bundle", "--property", str(pid), "--out", str(out), stdout=sys.stderr)
    seconds = time.perf_counter() - started
    each, batched = proof_seconds(log)
    return {
        "seconds": seconds,
        "key": log.verifier.vkey,
        "log_events": log.size(),
        "proof_each_seconds": each,
        "proof_batched_seconds": batched,
    }


def proof_seconds(log: TransparencyLog) -> tuple[float, float]:
    """The proofs of a range bundle's first PROOF_LEAVES events: one read each, or one per batch."""
    from api.audit_stream import BATCH_SIZE

    checkpoint = log.latest_checkpoint()
    assert checkpoint is not None
    leaves = range(min(PROOF_LEAVES, checkpoint.size))
    started = time.perf_counter()
    each = [log.inclusion_proof(index, checkpoint.size) for index in leaves]
    each_seconds = time.perf_counter() - started
    started = time.perf_counter()
    batched = [
        proof
        for start in range(0, len(leaves), BATCH_SIZE)
        for proof in log.inclusion_proofs(list(leaves[start : start + BATCH_SIZE]), checkpoint.size)
    ]
    batched_seconds = time.perf_counter() - started
    if batched != each:
        raise RuntimeError("the batched inclusion proofs differ from those made one at a time")
    return each_seconds, batched_seconds


def measure(
    database: str,
    database_url: str,
    workdir: Path,
    stories: list[event_log.Story],
    events: int,
    log: Callable[[str], None],
) -> BundleRow:
    from tests.verifier import cryptography_only_path, isolated_python, load_tool

    env = log_scans.probe_env(database_url, workdir)
    env["COSMO_AUDIT_SIGNING_KEY"] = _signing_key_text()
    http_load.manage(env, "migrate", "--no-input")
    event_log.seed(dict(dj_database_url.parse(database_url)), stories, events, log, f"{database} {events:,}")
    out = workdir / "bundle.ndjson"
    child = subprocess.run(
        [sys.executable, "-m", "tools.bench.audit_bundle", "--child", str(out)],
        cwd=http_load.REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        timeout=3600,
    )
    made = json.loads(child.stdout.strip().splitlines()[-1])
    site = cryptography_only_path(workdir / "auditor")
    tool = str(http_load.REPO / "tools" / "cosmo_verify.py")
    process_seconds = []
    for _ in range(RUNS):
        started = time.perf_counter()
        done = isolated_python(site, tool, str(out), "--public-key", made["key"], cwd=workdir)
        process_seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"the bundle did not verify: {done.stdout}{done.stderr}")
    verifier = load_tool()
    raw = out.read_bytes()
    checks_seconds = []
    for _ in range(RUNS):
        started = time.perf_counter()
        report = verifier.verify_bundle(io.BytesIO(raw), [made["key"]])
        checks_seconds.append(time.perf_counter() - started)
    log(f"  {database}: {report.events} events bundled in {made['seconds']:.3f} s, {len(raw):,} B")
    ranges = tuple(
        measure_range(env, workdir, site, made["key"], min(events, made["log_events"]), log)
        for events in RANGES
    )
    return BundleRow(
        database,
        made["log_events"],
        report.events,
        made["seconds"],
        len(raw),
        median(process_seconds),
        median(checks_seconds),
        ranges=ranges,
        proof_each_seconds=made["proof_each_seconds"],
        proof_batched_seconds=made["proof_batched_seconds"],
    )


def _peak_kib(stderr: str) -> int:
    return int(next(line for line in stderr.splitlines() if line.startswith("peak-rss-kib")).split()[1])


def measure_range(
    env: dict[str, str], workdir: Path, site: Path, key: str, events: int, log: Callable[[str], None]
) -> RangeRow:
    """``audit bundle --from 1 --to events``, then the offline verifier, each timed and its peak RSS read."""
    from tests.verifier import isolated_python

    out = workdir / f"range-{events}.ndjson"
    command = ["audit", "bundle", "--from", "1", "--to", str(events), "--out", str(out)]
    started = time.perf_counter()
    written = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, "manage.py", *command],
        cwd=http_load.REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    write_seconds = time.perf_counter() - started
    tool = str(http_load.REPO / "tools" / "cosmo_verify.py")
    started = time.perf_counter()
    checked = isolated_python(site, "-c", PEAK_RSS, tool, str(out), "--public-key", key, cwd=workdir)
    verify_seconds = time.perf_counter() - started
    if checked.returncode != 0:
        raise RuntimeError(f"the range bundle did not verify: {checked.stdout}{checked.stderr}")
    size = out.stat().st_size
    out.unlink()
    row = RangeRow(
        events, size, write_seconds, _peak_kib(written.stderr), verify_seconds, _peak_kib(checked.stderr)
    )
    log(
        f"  range of {events:,} events: {size:,} B written in {write_seconds:.1f} s"
        f" (peak {row.write_peak_kib:,} KiB), verified in {verify_seconds:.1f} s"
        f" (peak {row.verify_peak_kib:,} KiB)"
    )
    return row


def _signing_key_text() -> str:
    from infrastructure.signed_note import SigningKey

    return SigningKey.generate_text()


def measure_all(
    server_url: str | None, directory: Path, events: int, log: Callable[[str], None]
) -> list[BundleRow]:
    """SQLite, then PostgreSQL unless ``server_url`` is None."""
    stories = event_log.template()
    with (
        log_scans.workspace(directory / "sqlite") as workdir,
        http_load.sqlite_database(workdir / "db") as url,
    ):
        rows = [_measured_or_problem("SQLite", url, workdir, stories, events, log)]
    if server_url is not None:
        with (
            log_scans.workspace(directory / "postgres") as workdir,
            postgres.throwaway_database(server_url, "bundle") as url,
        ):
            rows.append(_measured_or_problem("PostgreSQL", url, workdir, stories, events, log))
    return rows


def _measured_or_problem(
    database: str,
    database_url: str,
    workdir: Path,
    stories: list[event_log.Story],
    events: int,
    log: Callable[[str], None],
) -> BundleRow:
    """A failure becomes a row saying so, so the rest of ``make bench`` still runs and reports."""
    try:
        return measure(database, database_url, workdir, stories, events, log)
    except Exception as error:
        problem = (
            f"{type(error).__name__}: {str(error).strip().splitlines()[-1] if str(error).strip() else ''}"
        )
        log(f"  {database}: the bundle was NOT MEASURED: {problem}")
        return BundleRow(database, events, 0, 0.0, 0, 0.0, 0.0, problem)


def section(rows: list[BundleRow]) -> list[str]:
    if not rows:
        return []
    lines = [
        "## Offline audit bundle (issue 10)",
        "",
        f"A property with {CHANGES} changes and {PHOTOS} captioned photos, recorded after a seeded log;"
        " one checkpoint; `manage.py audit bundle --property` timed in a Django process after its start-up;"
        " `tools/cosmo_verify.py` run as an auditor runs it (`python -S`, only `cryptography`"
        f" importable, process start included) and, for the checks alone, in-process; median of {RUNS}.",
        "",
        "| database | log events | property events | bundle | size | verify (process) | verify (checks) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.database} | {r.log_events:,} | NOT MEASURED: {r.problem} | | | | |"
        if r.problem
        else f"| {r.database} | {r.log_events:,} | {r.property_events:,} | {r.bundle_seconds * 1000:,.0f} ms"
        f" | {r.bundle_bytes / 1024:,.0f} KiB | {r.verify_process_seconds * 1000:,.0f} ms"
        f" | {r.verify_checks_seconds * 1000:,.0f} ms |"
        for r in rows
    ]
    readings = [
        f"on {r.database} one property's {r.property_events} events were bundled in"
        f" {r.bundle_seconds * 1000:,.0f} ms ({r.bundle_bytes / 1024:,.0f} KiB) and verified offline in"
        f" {r.verify_process_seconds * 1000:,.0f} ms, process start included"
        f" ({r.verify_checks_seconds * 1000:,.0f} ms of checks)"
        for r in rows
        if not r.problem
    ]
    if readings:
        lines += ["", f"In a log of {rows[0].log_events:,} events, " + "; ".join(readings) + "."]
    return lines + _range_section(rows)


def _range_section(rows: list[BundleRow]) -> list[str]:
    measured = [(row, r) for row in rows for r in row.ranges]
    if not measured:
        return []
    lines = [
        "",
        "Range bundles (`audit bundle --from 1 --to N`) of the same log, written and verified offline in"
        " processes of their own (process start included); peak RSS of each process. NDJSON is written"
        " and read line by line: a ten times larger range should not need more memory.",
        "",
        "| database | events | size | write | write peak RSS | verify | verify peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {row.database} | {r.events:,} | {r.bundle_bytes / 2**20:,.1f} MiB | {r.write_seconds:,.1f} s"
        f" | {r.write_peak_kib / 1024:,.0f} MiB | {r.verify_seconds:,.1f} s"
        f" | {r.verify_peak_kib / 1024:,.0f} MiB |"
        for row, r in measured
    ]
    proofs = [
        f"on {row.database} {row.proof_each_seconds:.2f} s one event at a time and"
        f" {row.proof_batched_seconds:.2f} s a batch (a page of the range) at a time"
        f" ({row.proof_each_seconds / row.proof_batched_seconds:.1f} times faster)"
        for row in rows
        if not row.problem and row.proof_batched_seconds
    ]
    if proofs:
        lines += [
            "",
            f"The inclusion proofs of the first {PROOF_LEAVES:,} events, as a range bundle needs them, took "
            + "; ".join(proofs)
            + ". The tree's nodes were read once per event, or once per batch; same process, same run.",
        ]
    return lines


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        print(json.dumps(record_and_bundle(Path(argv[1]))))
        return 0
    events = next((int(arg) for arg in argv if arg.isdigit()), 100_000)
    skip_postgres = "--skip-postgres" in argv
    server = None if skip_postgres else postgres.server_url()
    rows = measure_all(server, http_load.REPO / "var" / "bench" / "bundle", events, print)
    print("\n".join(section(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
