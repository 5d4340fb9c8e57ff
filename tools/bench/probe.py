"""``python -m tools.bench.probe export|verify|rebuild``: timed runs of the real code in a Django process.

Why a separate process: the export, ``verify`` and the projection rebuild need Django configured
against the seeded throwaway database (the composition root reads its settings), and their peak
memory must be their own, not the bench's (nor each other's: memory a process freed but kept
would hide the next pass's growth, so the export and verify get a process each). The parent
seeds the store, starts this with ``DATABASE_URL`` and the seeding run's audit key, and reads
one JSON object from stdout.

Each measured phase sits between two raw reads of the whole log through the same recorder
(``select_notifications`` in batches, no decoding): their mean is the same-run baseline, and the
first one also warms the page cache for everything after it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import django

RAW_BATCH = 1000  # the batch size of the export and of verify


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def raw_read(recorder: Any) -> tuple[int, float]:
    """Every stored event, in batches, as the library hands them out: the ceiling for any reader."""
    started = time.perf_counter()
    after, count = 0, 0
    while batch := recorder.select_notifications(start=after, limit=RAW_BATCH, inclusive_of_start=False):
        count += len(batch)
        after = batch[-1].id
    return count, time.perf_counter() - started


def timed(action: Callable[[], Any]) -> dict[str, Any]:
    """Run ``action`` once; its seconds, its peak memory, and what it returned."""
    from tools.bench.memory import peak_rss

    with peak_rss() as peak:
        started = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "result": result,
        "rss_start_mib": peak.start_mib,
        "rss_peak_mib": peak.peak_mib,
        "rss_exact": peak.exact,
    }


class LineCounter:
    """Where the export writes: counts the NDJSON lines and bytes, keeps nothing."""

    def __init__(self) -> None:
        self.lines = 0
        self.bytes = 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        self.bytes += len(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def export() -> dict[str, Any]:
    """``manage.py audit export`` (the NDJSON the API streams too), written to a counting sink."""
    from django.core.management import call_command, load_command_class

    from infrastructure.composition import property_service

    recorder = property_service().recorder
    events, before = raw_read(recorder)
    sink = LineCounter()
    # Loaded before the clock starts: importing the command (the API's serializers and schema
    # patterns with it) takes over a second, once per process, whatever the log's size.
    command = load_command_class("api", "audit")

    def run() -> dict[str, int]:
        call_command(command, "export", stdout=sink)
        return {"lines": sink.lines, "bytes": sink.bytes}

    exported = timed(run)
    log(f"    exported {sink.lines:,} events in {exported['seconds']:.1f} s")
    _, after = raw_read(recorder)
    return {"events": events, "raw_seconds": [before, after], "run": exported}


def verify() -> dict[str, Any]:
    """``audit_trail.verify`` of the whole chain, as ``manage.py audit verify`` runs it."""
    from infrastructure import audit_trail
    from infrastructure.composition import audit_key, property_service

    recorder = property_service().recorder
    events, before = raw_read(recorder)

    def run() -> dict[str, Any]:
        result = audit_trail.verify(recorder, audit_key(), workers=len(os.sched_getaffinity(0)))
        problem = result.first_problem
        return {"checked": result.checked, "ok": result.ok, "problem": str(problem) if problem else ""}

    verified = timed(run)
    log(f"    verified {verified['result']['checked']:,} events in {verified['seconds']:.1f} s")
    _, after = raw_read(recorder)
    return {"events": events, "raw_seconds": [before, after], "run": verified}


def rebuild(names: list[str]) -> dict[str, Any]:
    """``projections.runner.rebuild`` of each projection alone (all of them, in registry order, by
    default), then ``rebuild_together`` of them all in one pass, as ``projections rebuild --all``
    does; with the live rows each one ends with."""
    from infrastructure.composition import property_service
    from projections.registry import PROJECTIONS
    from projections.runner import RebuildReport, forks_by_default, rebuild_together

    app = property_service()
    names = names or list(PROJECTIONS)
    fork = forks_by_default()  # as ``projections rebuild`` does
    events, before = raw_read(app.recorder)

    def outcome(report: RebuildReport) -> dict[str, Any]:
        models = PROJECTIONS[report.name].models
        rows = sum(m._default_manager.filter(generation=report.generation).count() for m in models)
        return {"applied": report.events, "position": report.position, "rows": rows}

    runs: dict[str, Any] = {}
    for name in names:

        def run(name: str = name) -> dict[str, Any]:
            [report] = rebuild_together([PROJECTIONS[name]()], app, fork=fork)
            return outcome(report)

        runs[name] = timed(run)
        log(
            f"    rebuilt {name}: {runs[name]['result']['applied']:,} events in {runs[name]['seconds']:.1f} s"
        )

    def run_together() -> dict[str, Any]:
        reports = rebuild_together([PROJECTIONS[name]() for name in names], app, fork=fork)
        return {report.name: outcome(report) for report in reports}

    together = timed(run_together)
    log(f"    rebuilt all {len(names)} in one pass in {together['seconds']:.1f} s")
    _, after = raw_read(app.recorder)
    return {"events": events, "raw_seconds": [before, after], "rebuilds": runs, "together": together}


def main(argv: list[str], out: TextIO) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.probe")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("export")
    actions.add_parser("verify")
    again = actions.add_parser("rebuild")
    again.add_argument("names", nargs="*", help="projections to rebuild (default: all)")
    args = parser.parse_args(argv)
    django.setup()
    result = {"export": export, "verify": verify}.get(args.action, lambda: rebuild(args.names))()
    out.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], sys.stdout))
