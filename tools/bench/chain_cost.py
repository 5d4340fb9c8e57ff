"""What the audit chain costs on the write path: the same service, with and without it.

Why: every insert through Cosmo's recorders also reads the chain head, computes an HMAC link per
event (decoding the state for the actor and time it copies out) and inserts the links, all in the
insert's transaction. Running the same ``PropertyService`` workload on the chained factory the app
uses and on the library's plain ``eventsourcing.sqlite`` / ``eventsourcing.postgres`` (same
transcoder, pool and lock settings, a separate throwaway database each) isolates that cost as a
ratio. The plain factory also lacks Cosmo's event-size check, a length comparison per event.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from domain.audit import acting_as
from domain.service import PropertyService
from infrastructure.event_store import AUDIT_CHAIN_KEY
from infrastructure.mapper import MAX_EVENT_BYTES
from tools.bench import postgres
from tools.bench.event_append import CONTEXT, Settings, Workload, rate_of, service_env, sqlite_files
from tools.bench.results import Row, median

PLAIN_MODULES = {
    "django.db.backends.sqlite3": "eventsourcing.sqlite",
    "django.db.backends.postgresql": "eventsourcing.postgres",
}
BASELINE = "same service, library's plain recorder (no chain)"

CASES: list[tuple[str, Callable[[Workload, int], int]]] = [
    ("register_property (1 event/save)", Workload.register),
    ("update_property: 3 fields (load + 3 events/save)", Workload.update_all),
]


def plain_env(database: dict[str, Any]) -> dict[str, str]:
    """The app's settings for ``database`` with the library's own recorder in place of Cosmo's."""
    env = service_env(database)
    env["PERSISTENCE_MODULE"] = PLAIN_MODULES[database["ENGINE"]]
    del env[AUDIT_CHAIN_KEY], env[MAX_EVENT_BYTES]
    return env


def measure(
    database: str,
    chained_database: dict[str, Any],
    plain_database: dict[str, Any],
    settings: Settings,
    log: Callable[[str], None],
) -> list[Row]:
    """Warm both up, then alternate plain and chained runs of each case, ``repeats`` times."""
    services = {
        "plain": PropertyService(env=plain_env(plain_database)),
        "chained": PropertyService(env=service_env(chained_database)),
    }
    rates: dict[tuple[str, str], list[float]] = {}
    try:
        with acting_as(CONTEXT):
            workloads = {side: Workload(service) for side, service in services.items()}
            for workload in workloads.values():
                for _, case in CASES:
                    case(workload, settings.warmup_events)
            for repeat in range(settings.repeats):
                for name, case in CASES:
                    for side, workload in workloads.items():
                        rates.setdefault((name, side), []).append(
                            rate_of(partial(case, workload), settings.events)
                        )
                log(
                    f"  {database} chain cost, repeat {repeat + 1}/{settings.repeats}: "
                    + ", ".join(f"{side} {values[-1]:,.0f}/s" for (_, side), values in rates.items())
                )
    finally:
        for service in services.values():
            service.close()
    return [
        Row(
            what=f"{name} with the audit chain",
            database=database,
            unit="events/s",
            rate=median(rates[(name, "chained")]),
            baseline=BASELINE,
            baseline_rate=median(rates[(name, "plain")]),
            note=f"baseline `{plain_env(plain_database)['PERSISTENCE_MODULE']}`",
        )
        for name, _ in CASES
    ]


def measure_sqlite(directory: Path, settings: Settings, log: Callable[[str], None]) -> list[Row]:
    with sqlite_files(directory) as (chained, plain):
        return measure(
            "SQLite",
            {"ENGINE": "django.db.backends.sqlite3", "NAME": str(chained)},
            {"ENGINE": "django.db.backends.sqlite3", "NAME": str(plain)},
            settings,
            log,
        )


def measure_postgres(server_url: str, settings: Settings, log: Callable[[str], None]) -> list[Row]:
    with (
        postgres.throwaway_database(server_url, "chained") as chained,
        postgres.throwaway_database(server_url, "plain") as plain,
    ):
        return measure(
            "PostgreSQL",
            postgres.django_database(chained),
            postgres.django_database(plain),
            settings,
            log,
        )
