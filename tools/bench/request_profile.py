"""``python -m tools.bench.request_profile``: requests against their plain twins, and where a write's
time goes.

Why: the HTTP ratios say how far the write path is from plain CRUD, not where the difference is
spent. This runs the real views in-process (Django's test client, a real JWT, ``tools.bench.settings``,
the database named by ``DATABASE_URL``). It times each operation against its plain-model twin
(``tools.bench.views``), request by request in alternating order: on a busy machine that ratio holds up
better than two wrk runs seconds apart. With ``--profile`` it also profiles a series of writes
and prints the cumulative milliseconds per request of the stages the issue names (auth, command,
recorder, chain, read-model catch-up, re-reading the aggregate, rendering). cProfile inflates
Python-heavy stages; compare stages within one run, and before/after runs on the same machine.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import os
import pstats
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

Action = Callable[[int], Any]

# (label, module file suffix, function name): cumulative time of that function, per request.
STAGES: list[tuple[str, str, str]] = [
    ("whole request (Django handler)", "django/core/handlers/base.py", "get_response"),
    ("authentication (JWT + user row)", "rest_framework/request.py", "_authenticate"),
    ("Idempotency-Key check", "api/idempotency.py", "begin"),
    ("request validation (serializer)", "rest_framework/serializers.py", "is_valid"),
    ("command: register_property", "domain/service.py", "register_property"),
    ("command: update_property", "domain/service.py", "update_property"),
    ("  loading the aggregate (replay)", "domain/service.py", "_load_for_change"),
    ("  save: Application.save", "eventsourcing/application.py", "save"),
    ("    recorder insert transaction", "infrastructure/event_store.py", "insert_events"),
    ("      audit chain + Merkle leaves", "infrastructure/event_store.py", "_append_links"),
    ("read-model catch-up (separate transactions)", "projections/runner.py", "catch_up_quietly"),
    ("read models: events in hand, one transaction", "projections/inline.py", "apply_recorded"),
    ("re-reading the aggregate to answer", "api/views/properties.py", "aggregate_json"),
    ("  replay for the answer (get_property)", "domain/service.py", "get_property"),
    ("response rendering (JSON)", "rest_framework/response.py", "rendered_content"),
]


def stage_milliseconds(stats: pstats.Stats, requests: int) -> list[tuple[str, float]]:
    found: list[tuple[str, float]] = []
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for label, suffix, name in STAGES:
        total = sum(
            values[3]
            for (filename, _, function), values in table.items()
            if function == name and filename.endswith(suffix)
        )
        if total:
            found.append((label, 1000 * total / requests))
    return found


def profile(action: Action, requests: int) -> list[tuple[str, float]]:
    for warm in range(20):
        action(-1 - warm)
    profiler = cProfile.Profile()
    profiler.enable()
    for number in range(requests):
        action(number)
    profiler.disable()
    return stage_milliseconds(pstats.Stats(profiler), requests)


def timed_pairs(cosmo: Action, plain: Action, requests: int) -> tuple[float, float]:
    """Median wall milliseconds of each, the two run request by request in alternating order, so a
    burst of load from elsewhere on the machine falls on both alike."""
    times: dict[Action, list[float]] = {cosmo: [], plain: []}
    for number in range(requests):
        for action in (cosmo, plain) if number % 2 else (plain, cosmo):
            started = time.perf_counter()
            action(number)
            times[action].append(1000 * (time.perf_counter() - started))
    return statistics.median(times[cosmo]), statistics.median(times[plain])


def endpoints(client: Any, headers: dict[str, str], collection: str) -> dict[str, Action]:
    """POST, PATCH (over ``PATCHED_ROWS`` properties in turn, each a new name: a PATCH that
    changes nothing records nothing and is not the write being measured), GET detail and GET list on one
    collection: ``/api/properties`` or its plain-model twin ``/bench/plain``."""
    from tools.bench.http_load import BODY, PATCHED_ROWS

    def send(method: str, path: str, body: str = "", expected: int = 200) -> Any:
        response = getattr(client, method)(path, body, content_type="application/json", headers=headers)
        assert response.status_code == expected, response.content
        return response.json()

    ids = [send("post", collection, BODY, 201)["id"] for _ in range(PATCHED_ROWS)]
    renames = itertools.count()
    return {
        "POST": lambda _: send("post", collection, BODY, 201),
        "PATCH": lambda n: send(
            "patch",
            f"{collection}/{ids[n % PATCHED_ROWS]}",
            json.dumps({"name": f"Harbour View {next(renames)}"}),
        ),
        "GET detail": lambda n: send("get", f"{collection}/{ids[n % PATCHED_ROWS]}"),
        "GET list": lambda _: send("get", collection),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.request_profile", description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="requests per operation and side")
    parser.add_argument("--profile", action="store_true", help="also profile the writes, per stage")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tools.bench.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("COSMO_AUDIT_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("COSMO_MASTER_KEY", secrets.token_urlsafe(50))
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from api.models import User
    from tools.bench.http_load import USERNAME

    call_command("migrate", "--no-input", verbosity=0)
    password = secrets.token_urlsafe(24)
    user = User(username=f"{USERNAME}-{secrets.token_hex(4)}", organisation="acme", role="manager")
    user.set_password(password)
    user.save()
    client = Client(HTTP_USER_AGENT="bench/1.0", HTTP_HOST="localhost")
    login = client.post(
        "/api/auth/token",
        json.dumps({"username": user.username, "password": password}),
        content_type="application/json",
    )
    assert login.status_code == 200, login.content
    headers = {"Authorization": f"Bearer {login.json()['access']}"}
    cosmo = endpoints(client, headers, "/api/properties")
    plain = endpoints(client, headers, "/bench/plain")
    print(f"median ms per request, in-process, {args.requests} each, alternating with the plain twin")
    for name in cosmo:
        for warm in range(20):
            cosmo[name](-1 - warm)
            plain[name](-1 - warm)
        mine, theirs = timed_pairs(cosmo[name], plain[name], args.requests)
        print(f"  {name:<12} Cosmo {mine:6.2f}  plain {theirs:6.2f}  ratio {theirs / mine:.2f}")
    if args.profile:
        for name in ("POST", "PATCH"):
            print(f"{name}: ms per request under cProfile ({args.requests} requests)")
            for label, milliseconds in profile(cosmo[name], args.requests):
                print(f"  {label:<48} {milliseconds:7.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
