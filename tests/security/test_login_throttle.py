"""The login throttle against the ways around it: other spellings of the name, other addresses,
parallel bursts over real servers, and bodies that never reach a password check."""

from __future__ import annotations

import io
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

from api.models import LoginFailures
from domain.service import PropertyService
from tests.api.conftest import PASSWORD, make_user
from tests.api.test_http_server import call, gunicorn
from tests.conftest import process_env

SPELLINGS = [
    " mgrb",
    "mgrb ",
    "mgrb\n",
    "\tmgrb",
    "\xa0mgrb",
    "mgrb\u3000",
    "MGRB",
    "Mgrb",
    "\uff4d\uff47\uff52\uff42",
]


def login(username: str, password: str, address: str = "203.0.113.7") -> int:
    response = APIClient(REMOTE_ADDR=address).post(
        "/api/auth/token", {"username": username, "password": password}, format="json"
    )
    return int(response.status_code)


def test_every_spelling_of_a_locked_name_is_refused_even_with_the_right_password(
    service: PropertyService,
) -> None:
    make_user("mgrb")
    assert [login("mgrb", "wrong") for _ in range(5)] == [401] * 5
    assert {spelling: login(spelling, PASSWORD) for spelling in ["mgrb", *SPELLINGS]} == {
        spelling: 429 for spelling in ["mgrb", *SPELLINGS]
    }


def test_failures_under_other_spellings_count_against_the_name(service: PropertyService) -> None:
    make_user("mgrb")
    statuses = [login(spelling, "wrong") for spelling in SPELLINGS]
    assert statuses == [401] * 5 + [429] * (len(SPELLINGS) - 5)
    assert login("mgrb", PASSWORD) == 429


def test_a_name_is_limited_whichever_addresses_the_guesses_come_from(service: PropertyService) -> None:
    make_user("mgrb")
    assert [login("mgrb", "wrong", f"198.51.100.{n}") for n in range(5)] == [401] * 5
    assert login("mgrb", PASSWORD, "192.0.2.1") == 429


@override_settings(COSMO_LOGIN_ADDRESS_FAILURES_ALLOWED=3)
def test_an_address_is_limited_whichever_names_it_guesses_at(service: PropertyService) -> None:
    make_user("mgrb")
    assert [login(name, "wrong") for name in ["ana", "bea", "cid"]] == [401] * 3
    assert login("mgrb", PASSWORD) == 429, "the address has used up its failures"
    assert login("mgrb", PASSWORD, "192.0.2.1") == 200, "another address is not affected"


@override_settings(COSMO_LOGIN_ADDRESS_FAILURES_ALLOWED=3)
def test_logging_in_to_an_account_of_ones_own_does_not_wipe_the_address_failures(
    service: PropertyService,
) -> None:
    make_user("mallory")
    assert [login(name, "wrong") for name in ["ana", "bea"]] == [401, 401]
    assert login("mallory", PASSWORD) == 200
    assert login("cid", "wrong") == 401
    assert login("dora", "wrong") == 429


def test_refusals_of_the_body_are_not_failures(service: PropertyService) -> None:
    make_user("mgrb")
    client = APIClient()
    for body in [{"username": "mgrb"}, {"password": "x"}, {"username": "mgrb\x00", "password": "x"}] * 3:
        assert client.post("/api/auth/token", body, format="json").status_code == 400
    assert login("mgrb", PASSWORD) == 200


@override_settings(COSMO_LOGIN_FAILURE_WINDOW_SECONDS=1)
def test_prune_audit_forgets_counters_whose_window_is_over(service: PropertyService) -> None:
    login("ana", "wrong")
    time.sleep(1.1)
    login("bea", "wrong", "192.0.2.1")
    call_command("prune_audit", "--days", "30", stdout=io.StringIO())
    assert LoginFailures.objects.count() == 2, "only bea's name and address are still counted"


@override_settings(COSMO_LOGIN_FAILURE_WINDOW_SECONDS=1)
def test_the_name_is_free_again_once_the_window_is_over(service: PropertyService) -> None:
    make_user("mgrb")
    for _ in range(5):
        login("mgrb", "wrong")
    response = APIClient().post("/api/auth/token", {"username": " mgrb", "password": PASSWORD}, format="json")
    assert (response.status_code, response["Retry-After"]) == (429, "1")
    assert response.json()["error"]["code"] == "too_many_failed_logins"
    time.sleep(1.1)
    assert login(" mgrb", PASSWORD) == 200


def burst(bases: list[str], bodies: list[dict[str, str]]) -> Counter[int]:
    """All ``bodies`` posted to the login at once, spread over the servers."""
    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        statuses = pool.map(
            lambda job: call(bases[job[0] % len(bases)], "POST", "/api/auth/token", job[1])[0],
            enumerate(bodies),
        )
        return Counter(statuses)


@pytest.mark.http_server
def test_a_parallel_burst_of_guesses_gets_no_more_than_the_limit_through(service: PropertyService) -> None:
    make_user("mgrb", hasher="pbkdf2_sha256")  # the servers run the production hashers
    with gunicorn(2, "--workers", "2", "--threads", "8") as bases:
        guesses = [{"username": SPELLINGS[n % len(SPELLINGS)], "password": f"guess-{n}"} for n in range(32)]
        assert burst(bases, guesses) == {401: 5, 429: 27}
        right = [{"username": spelling, "password": PASSWORD} for spelling in ["mgrb", *SPELLINGS]]
        assert burst(bases, right) == {429: len(right)}


@pytest.mark.http_server
def test_a_parallel_burst_over_many_names_gets_no_more_than_the_address_limit_through(
    service: PropertyService,
) -> None:
    env = {**process_env(), "COSMO_LOGIN_ADDRESS_FAILURES_ALLOWED": "6"}
    with gunicorn(2, "--workers", "2", "--threads", "8", env=env) as bases:
        guesses = [{"username": f"user-{n}", "password": "guess"} for n in range(24)]
        assert burst(bases, guesses) == {401: 6, 429: 18}
