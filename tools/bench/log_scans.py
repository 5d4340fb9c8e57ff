"""Export, verify and projection rebuilds over a big seeded log, each next to a raw read of it.

Why: issue 4 asks what exporting and verifying the whole audit record cost, issue 5 what
rebuilding the read models costs, at 100k and 1M events, with peak memory (both promise flat
memory). Each database gets a throwaway store, migrated by ``manage.py migrate`` and seeded with
:mod:`tools.bench.event_log`; the passes then run in a Django process of their own
(:mod:`tools.bench.probe`) with production settings, so the figures are the real code's. The baseline
is the same process reading the same log raw through ``recorder.select_notifications``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import mean
from typing import Any

import dj_database_url

from tools.bench import event_log, http_load, postgres
from tools.bench.event_append import AUDIT_KEY
from tools.bench.results import ScanRow

PROBE_TIMEOUT_SECONDS = 4 * 3600
EXPORT = "export: `manage.py audit export` (NDJSON)"
VERIFY = "verify: `audit_trail.verify` (whole chain)"
REBUILD_ALL = "rebuild all projections in one pass (`projections rebuild --all`)"
BASELINE = "raw read, `select_notifications` in batches of 1000"


def probe_env(database_url: str, workdir: Path) -> dict[str, str]:
    """Production settings on the throwaway database, with the key the log was chained with."""
    env = http_load.server_env(database_url, workdir)
    env.update(DJANGO_SETTINGS_MODULE="infrastructure.settings", COSMO_AUDIT_KEY=AUDIT_KEY)
    return env


def run_probe(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Its progress goes to our stderr; its single JSON answer comes on stdout."""
    completed = subprocess.run(
        [sys.executable, "-m", "tools.bench.probe", *args],
        cwd=http_load.REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        timeout=PROBE_TIMEOUT_SECONDS,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"tools.bench.probe {' '.join(args)} failed with {completed.returncode}")
    answer: dict[str, Any] = json.loads(lines[-1])
    return answer


def _row(what: str, database: str, events: int, raw: float, run: dict[str, Any], note: str) -> ScanRow:
    return ScanRow(
        what=what,
        database=database,
        events=events,
        seconds=run["seconds"],
        baseline_seconds=raw,
        rss_start_mib=run["rss_start_mib"],
        rss_peak_mib=run["rss_peak_mib"],
        note=note if run["rss_exact"] else f"{note}; peak is the process's (no clear_refs)",
    )


def _export_row(database: str, probe: dict[str, Any], log: Callable[[str], None]) -> ScanRow:
    events, run = probe["events"], probe["run"]
    lines, size = run["result"]["lines"], run["result"]["bytes"]
    note = f"{size / max(lines, 1):,.0f} B per line"
    if lines != events:
        note += f"; WRONG: {lines:,} lines for {events:,} events"
        log(f"  {database}: the export wrote {lines:,} lines for {events:,} events")
    return _row(EXPORT, database, events, mean(probe["raw_seconds"]), run, note)


def _verify_row(database: str, probe: dict[str, Any], log: Callable[[str], None]) -> ScanRow:
    events, run = probe["events"], probe["run"]
    checked = run["result"]
    note = f"{checked['checked']:,} links valid"
    if not checked["ok"] or checked["checked"] != events:
        note = f"FAILED after {checked['checked']:,} links: {checked['problem']}"
        log(f"  {database}: verify did not pass: {checked['problem']}")
    return _row(VERIFY, database, events, mean(probe["raw_seconds"]), run, note)


def _rebuild_rows(database: str, rebuilt: dict[str, Any]) -> list[ScanRow]:
    events, raw = rebuilt["events"], mean(rebuilt["raw_seconds"])
    runs: dict[str, dict[str, Any]] = rebuilt["rebuilds"]
    rows = []
    for name, run in runs.items():
        result = run["result"]
        note = f"applies {result['applied']:,} of them; {result['rows']:,} rows"
        if result["position"] != events:
            note += f"; WRONG: stopped at position {result['position']:,}"
        rows.append(_row(f"rebuild `{name}`", database, events, raw, run, note))
    together = rebuilt["together"]
    positions = {result["position"] for result in together["result"].values()}
    note = f"{len(together['result'])} projections, one read of the log"
    if positions != {events}:
        note += f"; WRONG: stopped at positions {sorted(positions)}"
    rows.append(_row(REBUILD_ALL, database, events, raw, together, note))
    return rows


def measure(
    database: str,
    database_url: str,
    workdir: Path,
    stories: list[event_log.Story],
    events: int,
    log: Callable[[str], None],
) -> tuple[list[ScanRow], list[ScanRow]]:
    """Migrate, seed, then the audit passes and the rebuilds: (audit rows, rebuild rows)."""
    env = probe_env(database_url, workdir)
    http_load.manage(env, "migrate", "--no-input")
    label = f"{database} {events:,}"
    seconds = event_log.seed(dict(dj_database_url.parse(database_url)), stories, events, log, label)
    log(f"  {label}: seeded in {seconds:.1f} s ({events / seconds:,.0f} events/s, chained recorder)")
    audit = [
        _export_row(database, run_probe(env, "export"), log),
        _verify_row(database, run_probe(env, "verify"), log),
    ]
    return audit, _rebuild_rows(database, run_probe(env, "rebuild"))


@contextmanager
def workspace(directory: Path) -> Iterator[Path]:
    """A directory for the probe's settings (``COSMO_VAR_DIR``), removed afterwards."""
    if directory.exists():
        shutil.rmtree(directory)
    (directory / "static").mkdir(parents=True)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def measure_sqlite(
    directory: Path, stories: list[event_log.Story], events: int, log: Callable[[str], None]
) -> tuple[list[ScanRow], list[ScanRow]]:
    with workspace(directory) as workdir, http_load.sqlite_database(workdir / "db") as url:
        return measure("SQLite", url, workdir, stories, events, log)


def measure_postgres(
    server_url: str,
    directory: Path,
    stories: list[event_log.Story],
    events: int,
    log: Callable[[str], None],
) -> tuple[list[ScanRow], list[ScanRow]]:
    with (
        workspace(directory) as workdir,
        postgres.throwaway_database(server_url, "scan") as url,
    ):
        return measure("PostgreSQL", url, workdir, stories, events, log)
