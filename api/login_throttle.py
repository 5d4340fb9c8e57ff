"""Failed logins, limited per username and per client address, counted in the database.

Each attempt takes its place in the count *before* the password is checked, under a row lock, and
gives it back if it did not fail (a success, or a body refused before any password was checked).
Counting only after the check would let a parallel burst all read "below the limit" first; with
the place taken first, at most the limit of guesses is ever being checked or failed per window.

The username is counted as authentication reads it (the serializer has already stripped it), then
folded (NFKC, case): every spelling that could reach the account counts against one name, so
``" mgrb"``, ``"mgrb\\n"`` or ``"MGRB"`` never get counters of their own.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions

from api.models import LoginFailures
from infrastructure.metrics import LOGIN_FAILURES, LOGIN_THROTTLED


class TooManyFailedLogins(exceptions.Throttled):
    default_detail = "Too many failed logins."
    default_code = "too_many_failed_logins"


@dataclass(frozen=True)
class _Counter:
    key: str
    allowed: int
    cleared_by_success: bool


def folded_username(username: str) -> str:
    """The one spelling every variant of a name is counted under."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


def _counters(username: str, address: str) -> list[_Counter]:
    """Sorted by key, so that concurrent attempts lock their rows in one order (no deadlock)."""
    counters = [
        _Counter(_key("username", folded_username(username)), settings.COSMO_LOGIN_FAILURES_ALLOWED, True),
        _Counter(_key("address", address), settings.COSMO_LOGIN_ADDRESS_FAILURES_ALLOWED, False),
    ]
    return sorted(counters, key=lambda counter: counter.key)


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}\0{value}".encode("utf-8", "surrogatepass")).hexdigest()


@contextmanager
def login_attempt(username: str, address: str) -> Iterator[None]:
    """Runs a password check as one counted attempt; raises :class:`TooManyFailedLogins` instead
    when the username or the address has used up its failures for the window.

    An ``AuthenticationFailed`` from the block keeps the attempt counted; a success clears the
    username's failures and gives back the address's place (a caller who logs in to an account of
    their own must not wipe the failures they made guessing at others).
    """
    counters = _counters(username, address)
    _take_places(counters)
    try:
        yield
    except exceptions.AuthenticationFailed:
        LOGIN_FAILURES.inc()
        raise
    except BaseException:
        _give_back(counters)
        raise
    LoginFailures.objects.filter(key__in=[c.key for c in counters if c.cleared_by_success]).delete()
    _give_back([c for c in counters if not c.cleared_by_success])


def _take_places(counters: list[_Counter]) -> None:
    now = timezone.now()
    window = timedelta(seconds=settings.COSMO_LOGIN_FAILURE_WINDOW_SECONDS)
    with transaction.atomic():
        rows = [_locked(counter.key, now) for counter in counters]
        for row in rows:
            if row.since + window <= now:
                row.failures, row.since = 0, now
        full = [row for row, counter in zip(rows, counters, strict=True) if row.failures >= counter.allowed]
        for row in rows:
            row.failures += 0 if full else 1
            row.save()
    if full:
        LOGIN_THROTTLED.inc()
        raise TooManyFailedLogins(wait=_seconds_until(max(row.since for row in full) + window, now))


def _locked(key: str, now: datetime) -> LoginFailures:
    row, _ = LoginFailures.objects.select_for_update().get_or_create(key=key, defaults={"since": now})
    return row


def _give_back(counters: list[_Counter]) -> None:
    with transaction.atomic():
        for counter in counters:
            row = LoginFailures.objects.select_for_update().filter(key=counter.key).first()
            if row is None:
                continue
            if row.failures <= 1:
                row.delete()
            else:
                row.failures -= 1
                row.save(update_fields=["failures"])


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def forget_expired_failures() -> None:
    """Deletes counters whose window is over (the next attempt would reset them anyway)."""
    opened_before = timezone.now() - timedelta(seconds=settings.COSMO_LOGIN_FAILURE_WINDOW_SECONDS)
    LoginFailures.objects.filter(since__lte=opened_before).delete()


def forget_username(username: str) -> None:
    """Deletes the failure counter of a username (an erased account's)."""
    LoginFailures.objects.filter(key=_key("username", folded_username(username))).delete()
