"""``python -m tools.bench.merkle_log``: what the Merkle log costs and how fast its proofs and checks are.

Why: issue 10 asks for same-run ratios on both databases. Appends run the same ``PropertyService``
workload on the chained recorder the app uses and on the same recorder with the tree switched off
(no frontier read, no leaves or subtree nodes: ``_frontier_hashes`` and ``_grown_tree`` give nothing), runs
interleaved. Proofs are timed one by one over a seeded log (random positions, sizes = the whole
log); ``audit_trail.verify`` (chain and tree in one pass) is set against a raw read of the same
log through the same recorder (``select_notifications`` in batches of 1000), as bench.probe does.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from domain.audit import acting_as
from domain.service import PropertyService
from infrastructure import audit_trail
from infrastructure.audit_chain import ChainKey
from infrastructure.event_store import (
    ChainedPostgresFactory,
    ChainedPostgresRecorder,
    ChainedRecorder,
    ChainedSQLiteFactory,
    ChainedSQLiteRecorder,
)
from infrastructure.merkle import TreeBuilder
from infrastructure.transparency_log import TransparencyLog
from tools.bench import event_log, postgres
from tools.bench.event_append import AUDIT_KEY, CONTEXT, Settings, Workload, rate_of, service_env
from tools.bench.probe import raw_read

PROOFS = 2000


class _WithoutTree:
    def _grown_tree(
        self, size: int, frontier_hashes: list[bytes], events: Any
    ) -> tuple[list[tuple[int, bytes]], tuple[bytes, ...] | None]:
        return [], None

    def _frontier_hashes(self, cursor: Any, size: int) -> list[bytes] | None:
        return None


class _SQLiteRecorderWithoutTree(_WithoutTree, ChainedSQLiteRecorder):
    pass


class _PostgresRecorderWithoutTree(_WithoutTree, ChainedPostgresRecorder):
    pass


class NoTreeSQLiteFactory(ChainedSQLiteFactory):
    recorder_class = _SQLiteRecorderWithoutTree


class NoTreePostgresFactory(ChainedPostgresFactory):
    recorder_class = _PostgresRecorderWithoutTree


NO_TREE = {
    "django.db.backends.sqlite3": "tools.bench.merkle_log:NoTreeSQLiteFactory",
    "django.db.backends.postgresql": "tools.bench.merkle_log:NoTreePostgresFactory",
}


def append_ratio(
    with_tree: dict[str, Any], without_tree: dict[str, Any], settings: Settings
) -> dict[str, float]:
    """Median events/s of ``register_property`` with and without the tree, runs interleaved."""
    env = service_env(without_tree)
    env["PERSISTENCE_MODULE"] = NO_TREE[without_tree["ENGINE"]]
    services = {"tree": PropertyService(env=service_env(with_tree)), "no tree": PropertyService(env=env)}
    rates: dict[str, list[float]] = {side: [] for side in services}
    try:
        with acting_as(CONTEXT):
            workloads = {side: Workload(service) for side, service in services.items()}
            for workload in workloads.values():
                workload.register(settings.warmup_events)
            for _ in range(settings.repeats):
                for side, workload in workloads.items():
                    rates[side].append(rate_of(partial(Workload.register, workload), settings.events))
    finally:
        for service in services.values():
            service.close()
    tree, plain = statistics.median(rates["tree"]), statistics.median(rates["no tree"])
    return {"with_tree": tree, "without_tree": plain, "ratio": tree / plain}


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p95_ms": 1000 * ordered[int(len(ordered) * 0.95)],
    }


def time_proofs(tree: TransparencyLog, size: int) -> dict[str, dict[str, float]]:
    """``PROOFS`` inclusion proofs of random leaves and consistency proofs from random sizes."""
    picks = random.Random(7)
    inclusion, consistency = [], []
    for _ in range(PROOFS):
        index = picks.randrange(size)
        started = time.perf_counter()
        tree.inclusion_proof(index, size)
        inclusion.append(time.perf_counter() - started)
        old = picks.randrange(1, size)
        started = time.perf_counter()
        tree.consistency_proof(old, size)
        consistency.append(time.perf_counter() - started)
    return {"inclusion": _percentiles(inclusion), "consistency": _percentiles(consistency)}


def synthetic_proofs(database: dict[str, Any], leaves: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Proof times over a tree of ``leaves`` written straight into the node table (no events):
    proofs read only nodes, so this is how they behave at a size too slow to seed through the store."""
    service = PropertyService(env=service_env(database))
    try:
        recorder = service.recorder
        assert isinstance(recorder, ChainedRecorder)
        builder = TreeBuilder()
        batch: list[tuple[int, bytes]] = []
        for i in range(leaves):
            batch.extend(builder.append(hashlib.sha256(i.to_bytes(8, "big")).digest()))
            if len(batch) >= 10_000 or i == leaves - 1:
                recorder._run(
                    "INSERT INTO {merkle} (seq, hash) VALUES " + ", ".join(["(%s, %s)"] * len(batch)),
                    [value for node in batch for value in node],
                    write=True,
                )
                batch = []
        log(f"  synthetic tree of {leaves:,} leaves written")
        tree = TransparencyLog(recorder, None, "")
        assert tree.size() == leaves
        return {"leaves": leaves, **time_proofs(tree, leaves)}
    finally:
        service.close()


def scan(database: dict[str, Any], events: int, log: Callable[[str], None], label: str) -> dict[str, Any]:
    """Seed ``events``, then time proofs, a raw read and ``audit_trail.verify`` over them."""
    event_log.seed(database, event_log.template(), events, log, label)
    service = PropertyService(env=service_env(database))
    try:
        tree = TransparencyLog(service.recorder, None, "")
        size = tree.size()
        assert size == events, (size, events)
        proofs = time_proofs(tree, size)
        raw_before = raw_read(service.recorder)[1]
        started = time.perf_counter()
        result = audit_trail.verify(
            service.recorder, ChainKey(AUDIT_KEY.encode()), workers=len(os.sched_getaffinity(0))
        )
        verify_seconds = time.perf_counter() - started
        raw_after = raw_read(service.recorder)[1]
        assert result.ok, result.first_problem
        raw_seconds = (raw_before + raw_after) / 2
        return {
            "events": events,
            **proofs,
            "raw_read_per_s": events / raw_seconds,
            "verify_per_s": events / verify_seconds,
            "verify_ratio": raw_seconds / verify_seconds,
        }
    finally:
        service.close()


def run(
    events: int, settings: Settings, use_postgres: bool, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="cosmo-bench-merkle-") as scratch:
        sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(scratch) / "tree.sqlite3")}
        sqlite_plain = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(scratch) / "plain.sqlite3")}
        log("SQLite: appends with and without the tree")
        appends = append_ratio(sqlite, sqlite_plain, settings)
        log(f"SQLite: seeding {events:,} events, then proofs and verify")
        scanned = scan(
            {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(scratch) / "scan.sqlite3")},
            events,
            log,
            "SQLite",
        )
        rows.append({"database": "SQLite", "append": appends, **scanned})
    if use_postgres:
        url = postgres.server_url()
        with (
            postgres.throwaway_database(url, "tree") as tree_db,
            postgres.throwaway_database(url, "no_tree") as plain_db,
        ):
            log("PostgreSQL: appends with and without the tree")
            appends = append_ratio(
                postgres.django_database(tree_db), postgres.django_database(plain_db), settings
            )
        with postgres.throwaway_database(url, "tree_scan") as scan_db:
            log(f"PostgreSQL: seeding {events:,} events, then proofs and verify")
            scanned = scan(postgres.django_database(scan_db), events, log, "PostgreSQL")
        rows.append({"database": "PostgreSQL", "append": appends, **scanned})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| database | events | append with tree ÷ without | inclusion p50 / p95 | consistency p50 / p95 "
        "| verify | raw read | verify ÷ raw read |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        append, inclusion, consistency = row["append"], row["inclusion"], row["consistency"]
        lines.append(
            f"| {row['database']} | {row['events']:,} "
            f"| {append['with_tree']:,.0f} / {append['without_tree']:,.0f} events/s = {append['ratio']:.2f} "
            f"| {inclusion['p50_ms']:.2f} / {inclusion['p95_ms']:.2f} ms "
            f"| {consistency['p50_ms']:.2f} / {consistency['p95_ms']:.2f} ms "
            f"| {row['verify_per_s']:,.0f} events/s | {row['raw_read_per_s']:,.0f} events/s "
            f"| {row['verify_ratio']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.merkle_log", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="events in the seeded log")
    parser.add_argument("--append-events", type=int, default=2000, help="events per timed append run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--proofs-only", type=int, metavar="LEAVES", help="only proof times over a synthetic tree of LEAVES"
    )
    args = parser.parse_args(argv)
    settings = Settings(events=args.append_events, warmup_events=200, repeats=args.repeats)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.proofs_only:
        print(proofs_table(proofs_only(args.proofs_only, not args.no_postgres, log)))
        return 0
    rows = run(args.events, settings, not args.no_postgres, log)
    print(table(rows))
    return 0


def proofs_only(leaves: int, use_postgres: bool, log: Callable[[str], None]) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="cosmo-bench-proofs-") as scratch:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(scratch) / "proofs.sqlite3")}
        rows.append({"database": "SQLite", **synthetic_proofs(database, leaves, log)})
    if use_postgres:
        with postgres.throwaway_database(postgres.server_url(), "proofs") as url:
            rows.append(
                {"database": "PostgreSQL", **synthetic_proofs(postgres.django_database(url), leaves, log)}
            )
    return rows


def proofs_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| database | leaves | inclusion p50 / p95 | consistency p50 / p95 |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows:
        inclusion, consistency = row["inclusion"], row["consistency"]
        lines.append(
            f"| {row['database']} | {row['leaves']:,} "
            f"| {inclusion['p50_ms']:.2f} / {inclusion['p95_ms']:.2f} ms "
            f"| {consistency['p50_ms']:.2f} / {consistency['p95_ms']:.2f} ms |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
