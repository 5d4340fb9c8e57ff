"""Writer processes on PostgreSQL: events/s of 4 processes appending at once ÷ 1 process alone.

Why: gunicorn workers are processes, and every PostgreSQL insert holds the events table's
EXCLUSIVE lock so that commit order is position order. With the commit's WAL flush inside the lock,
extra writers only queue; Cosmo's recorder releases the lock at the commit record and waits for
the flush afterwards, so writers share flushes (group commit, docs/adr/0023). Each process builds
``PropertyService`` as the app does and registers properties (one event per save) for a fixed
time; the library's plain recorder (flush under the lock) runs the same cases, interleaved, as
the contrast. After the runs the log is checked for what group commit must keep: positions
1..N without a gap, each chain link at its event's notification id.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from typing import Any

from domain.audit import acting_as
from domain.service import PropertyService
from infrastructure.event_store import WAIT_UNTIL_DURABLE, ChainedPostgresRecorder, chain_table
from tools.bench import postgres
from tools.bench.chain_cost import plain_env
from tools.bench.event_append import CONTEXT, Workload, service_env
from tools.bench.report import table
from tools.bench.results import Row, median

WRITERS = 4
WARMUP_SAVES = 20
HEADING = "## Concurrent writer processes (PostgreSQL)"


@dataclass(frozen=True)
class Settings:
    seconds: float = 5.0
    repeats: int = 3


def _write_for(env: dict[str, str], seconds: float, start: Barrier, counts: Any) -> None:
    """One writer process: warm up, wait for the others, then save one event at a time."""
    service = PropertyService(env=env)
    try:
        with acting_as(CONTEXT):
            workload = Workload(service)
            workload.register(WARMUP_SAVES)
            start.wait()
            deadline = time.monotonic() + seconds
            saved = 0
            while time.monotonic() < deadline:
                saved += workload.register(1)
        counts.put(saved)
    finally:
        service.close()


def events_per_second(env: dict[str, str], processes: int, seconds: float) -> float:
    """Events/s of ``processes`` writers started together (spawned: no connection is inherited)."""
    context = multiprocessing.get_context("spawn")
    # The tables exist already; the library's DDL run by several processes at once fails.
    writer_env = {**env, "CREATE_TABLE": "n"}
    start = context.Barrier(processes + 1)
    counts = context.Queue()
    writers = [
        context.Process(target=_write_for, args=(writer_env, seconds, start, counts))
        for _ in range(processes)
    ]
    for writer in writers:
        writer.start()
    try:
        start.wait(timeout=120)
        total: int = sum(counts.get(timeout=seconds + 120) for _ in writers)
    finally:
        for writer in writers:
            writer.join(timeout=30)
    return total / seconds


def gap_check(env: dict[str, str]) -> str:
    """What the chained log looks like after every run: the note of the Cosmo row."""
    service = PropertyService(env=env)
    try:
        recorder = service.recorder
        assert isinstance(recorder, ChainedPostgresRecorder)
        table = recorder.events_table_name
        rows = recorder._run(
            f"SELECT COUNT(*), MIN(e.notification_id), MAX(e.notification_id), "
            f"COUNT(*) FILTER (WHERE c.position = e.notification_id) "
            f"FROM {table} e LEFT JOIN {chain_table(table)} c ON c.notification_id = e.notification_id"
        )
    finally:
        service.close()
    count, first, last, linked = rows[0]
    if count and first == 1 and last == count and linked == count:
        return f"log checked after the runs: {count:,} events at positions 1..{last:,}, each linked at its id"
    return f"LOG BROKEN: {count} events, ids {first}..{last}, {linked} links at their ids"


def raw_rows_per_second(url: str, connections: int, flush_after_lock: bool, seconds: float) -> float:
    """The mechanism alone, no Python of ours: ``LOCK TABLE`` + ``INSERT`` + ``COMMIT`` per row on
    ``connections`` connections (threads: psycopg waits without the GIL), the flush inside the
    lock (synchronous commit) or after it (asynchronous commit, then the recorder's wait)."""
    state = os.urandom(300)
    with postgres.connect(url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS raw_group (id BIGSERIAL PRIMARY KEY, state BYTEA)")
    counts: list[int] = []
    deadline = time.monotonic() + seconds

    def insert() -> None:
        done = 0
        with postgres.connect(url) as conn:
            while time.monotonic() < deadline:
                with conn.pipeline():
                    with conn.transaction():
                        if flush_after_lock:
                            conn.execute("SET LOCAL synchronous_commit = off")
                        conn.execute("LOCK TABLE raw_group IN EXCLUSIVE MODE")
                        conn.execute("INSERT INTO raw_group (state) VALUES (%s)", (state,))
                    if flush_after_lock:
                        conn.execute(WAIT_UNTIL_DURABLE)
                done += 1
        counts.append(done)

    threads = [threading.Thread(target=insert) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def measure(server_url: str, settings: Settings, log: Callable[[str], None]) -> list[Row]:
    """1 and ``WRITERS`` processes on the chained and on the plain recorder, interleaved, repeated;
    then the bare statements, flush after and inside the lock, on 1 and ``WRITERS`` connections."""
    rates: dict[tuple[str, int], list[float]] = {}
    with (
        postgres.throwaway_database(server_url, "writers") as chained,
        postgres.throwaway_database(server_url, "writers_plain") as plain,
    ):
        envs = {
            "chained": service_env(postgres.django_database(chained)),
            "plain": plain_env(postgres.django_database(plain)),
        }
        for env in envs.values():
            PropertyService(env=env).close()  # tables made once, before the writers start
        for repeat in range(settings.repeats):
            for side, env in envs.items():
                for processes in (1, WRITERS):
                    rate = events_per_second(env, processes, settings.seconds)
                    rates.setdefault((side, processes), []).append(rate)
            for side, flush_after_lock in (("raw after", True), ("raw inside", False)):
                for connections in (1, WRITERS):
                    rate = raw_rows_per_second(chained, connections, flush_after_lock, settings.seconds)
                    rates.setdefault((side, connections), []).append(rate)
            log(
                f"  writers, repeat {repeat + 1}/{settings.repeats}: "
                + ", ".join(f"{side} x{n} {values[-1]:,.0f}/s" for (side, n), values in rates.items())
            )
        checked = gap_check(envs["chained"])
    baseline = "same, 1 writer process"
    return [
        Row(
            what=f"register_property, {WRITERS} writer processes (group commit)",
            database="PostgreSQL",
            unit="events/s",
            rate=median(rates[("chained", WRITERS)]),
            baseline=baseline,
            baseline_rate=median(rates[("chained", 1)]),
            note=checked,
        ),
        Row(
            what=f"register_property, {WRITERS} writer processes, library's plain recorder",
            database="PostgreSQL",
            unit="events/s",
            rate=median(rates[("plain", WRITERS)]),
            baseline=baseline,
            baseline_rate=median(rates[("plain", 1)]),
            note="contrast: flushes the WAL under the table lock; no chain",
        ),
        *[
            Row(
                what=f"raw LOCK TABLE + INSERT + COMMIT, {WRITERS} connections, flush {where} the lock",
                database="PostgreSQL",
                unit="rows/s",
                rate=median(rates[(side, WRITERS)]),
                baseline="same, 1 connection",
                baseline_rate=median(rates[(side, 1)]),
                note="diagnostic: the mechanism without Python",
            )
            for side, where in (("raw after", "after"), ("raw inside", "inside"))
        ],
    ]


def section(rows: list[Row], settings: Settings) -> list[str]:
    """The section of docs/benchmarks.md; empty when the writers were not measured."""
    if not rows:
        return []
    return [
        HEADING,
        "",
        f"Each process builds `PropertyService` as the app does and registers properties (one event per"
        f" save) for {settings.seconds:g} s; 1 and {WRITERS} processes, spawned and started together,"
        f" on the chained recorder and on the library's plain one, interleaved; medians of"
        f" {settings.repeats} repeats. Cosmo's recorder holds the table lock up to the commit record"
        " and waits for the WAL flush after releasing it, so writers queued on the lock share one"
        " flush (docs/adr/0023); the plain recorder flushes under the lock. On two shared cores the"
        " writers also compete for the CPU with the server, so the ratio is a floor. The raw rows are"
        " the mechanism alone: a one-row lock, insert and commit by hand on 1 and"
        f" {WRITERS} connections, with the flush after the lock (as Cosmo) and inside it.",
        "",
        table(rows),
        "",
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.writers", description=__doc__)
    parser.add_argument("--seconds", type=float, default=Settings.seconds, help="length of each run")
    parser.add_argument("--repeats", type=int, default=Settings.repeats)
    args = parser.parse_args(argv)
    settings = Settings(seconds=args.seconds, repeats=args.repeats)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    print("\n".join(section(measure(postgres.server_url(), settings, log), settings)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
