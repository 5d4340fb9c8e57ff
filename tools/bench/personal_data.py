"""``python -m tools.bench.personal_data``: what sealing personal fields per data subject costs.

Why: issue 12 asks that appending with per-subject encryption runs at >= 0.8 of appending
without it, and that export and rebuild with decryption run at >= 0.8 of them without it (data
keys cached, so a batch opens each key once). Two stores on the same database kind, the same
``PropertyService`` workload, runs interleaved; one store has ``COSMO_MASTER_KEY`` (the app as
deployed), the other none (personal fields in clear, as before issue 12).

- append: ``register_property``, one event per save, ``SUBJECTS`` actors taking turns;
- rebuild read: every event through ``select_notifications`` (batches of 500) and the mapper's
  ``to_domain_event``, the path ``projections rebuild`` reads through;
- export decode: every stored state through the store's transcoder, the path of
  ``GET /api/audit/export`` and ``audit export`` (``api/event_json.py``), after the same select.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from domain.audit import acting_as
from domain.service import PropertyService
from infrastructure.persistence import event_store_env
from tools.bench import postgres
from tools.bench.event_append import CONTEXT, Settings, Workload, service_env

SUBJECTS = 50
BATCH = 500
CHUNK = 100  # events appended by one side before the other takes its turn
READ_PASSES = 5  # read passes a side per repeat
MASTER_KEY = secrets.token_urlsafe(50)


def sealed_env(database: dict[str, Any]) -> dict[str, str]:
    clear = service_env(database)
    return {**clear, **event_store_env(database, clear["AUDIT_CHAIN_KEY"], master_key=MASTER_KEY)}


def append_rates(services: dict[str, PropertyService], settings: Settings) -> dict[str, list[float]]:
    """Each repeat appends ``settings.events`` per side in chunks of ``CHUNK``, the sides taking
    turns chunk by chunk (which one goes first alternating), so that a change of load on a shared
    machine falls on both sides alike instead of on whichever ran in that stretch."""
    rates: dict[str, list[float]] = {side: [] for side in services}
    workloads = {side: Workload(service) for side, service in services.items()}

    def register_as_many_subjects(workload: Workload, events: int) -> int:
        for i in range(events):
            subject = replace(CONTEXT, actor_id=str(i % SUBJECTS), username=f"bench-user-{i % SUBJECTS}")
            with acting_as(subject):
                workload.register(1)
        return events

    for workload in workloads.values():
        register_as_many_subjects(workload, settings.warmup_events)
    sides, chunks = list(workloads), max(1, settings.events // CHUNK)
    for _ in range(settings.repeats):
        seconds = dict.fromkeys(sides, 0.0)
        for chunk in range(chunks):
            for side in sides if chunk % 2 == 0 else reversed(sides):
                started = time.perf_counter()
                register_as_many_subjects(workloads[side], CHUNK)
                seconds[side] += time.perf_counter() - started
        for side in sides:
            rates[side].append(chunks * CHUNK / seconds[side])
    return rates


def read_rebuild(service: PropertyService) -> int:
    start, read = 1, 0
    while notifications := service.recorder.select_notifications(start, BATCH):
        for notification in notifications:
            service.mapper.to_domain_event(notification)
        read += len(notifications)
        start = notifications[-1].id + 1
    return read


def read_export(service: PropertyService) -> int:
    decode = service.mapper.transcoder.decode
    start, read = 1, 0
    while notifications := service.recorder.select_notifications(start, BATCH):
        for notification in notifications:
            decode(notification.state)
        read += len(notifications)
        start = notifications[-1].id + 1
    return read


def read_rates(
    services: dict[str, PropertyService], read: Callable[[PropertyService], int], repeats: int
) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {side: [] for side in services}
    sides = list(services)
    for repeat in range(repeats):
        for side in sides if repeat % 2 == 0 else reversed(sides):
            started = time.perf_counter()
            done = read(services[side])
            rates[side].append(done / (time.perf_counter() - started))
    return rates


def ratios(sealed: dict[str, Any], clear: dict[str, Any], settings: Settings) -> dict[str, Any]:
    services = {
        "sealed": PropertyService(env=sealed_env(sealed)),
        "clear": PropertyService(env=service_env(clear)),
    }
    try:
        figures = {"append": append_rates(services, settings)}
        # A read pass takes a fraction of a second: many of them, or one burst of load decides.
        figures["rebuild_read"] = read_rates(services, read_rebuild, READ_PASSES * settings.repeats)
        figures["export_decode"] = read_rates(services, read_export, READ_PASSES * settings.repeats)
    finally:
        for service in services.values():
            service.close()
    result: dict[str, Any] = {}
    for name, rates in figures.items():
        with_, without = statistics.median(rates["sealed"]), statistics.median(rates["clear"])
        result[name] = {
            "sealed_per_s": round(with_),
            "clear_per_s": round(without),
            "ratio": round(with_ / without, 3),
        }
    return result


def sqlite_database(path: Path) -> dict[str, Any]:
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings(events=args.events, warmup_events=200, repeats=args.repeats)
    report: dict[str, Any] = {"events": args.events, "repeats": args.repeats, "subjects": SUBJECTS}
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        report["sqlite"] = ratios(
            sqlite_database(root / "sealed.sqlite3"), sqlite_database(root / "clear.sqlite3"), settings
        )
    if not args.skip_postgres:
        server = postgres.server_url()
        with (
            postgres.throwaway_database(server, "sealed") as sealed,
            postgres.throwaway_database(server, "clear") as clear,
        ):
            report["postgresql"] = ratios(
                postgres.django_database(sealed), postgres.django_database(clear), settings
            )
    sys.stdout.write(f"PERSONAL_DATA {json.dumps(report)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
