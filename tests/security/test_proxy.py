"""Behind a proxy: the client's address comes from X-Forwarded-For only through trusted hops.

A client may write anything into X-Forwarded-For before the first proxy sees it, so the header is
read from the right, one trusted proxy at a time; the first address that is not a trusted proxy
is the client. Without TRUSTED_PROXIES the header is ignored altogether.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from api.client_ip import client_ip
from domain.service import PropertyService
from tests.api.conftest import NEW_PROPERTY, PASSWORD, make_user

LB = "10.0.0.5"
EDGE = "10.0.1.9"
CLIENT = "203.0.113.7"


def seen(remote: str, forwarded: str | None = None) -> str:
    headers: dict[str, Any] = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/health", **headers))


def test_without_trusted_proxies_the_header_is_ignored(settings: Settings) -> None:
    settings.TRUSTED_PROXIES = []
    assert seen(LB, f"{CLIENT}") == LB
    assert seen(CLIENT) == CLIENT


def test_one_trusted_proxy_names_the_client_it_received_from(settings: Settings) -> None:
    settings.TRUSTED_PROXIES = [LB]
    assert seen(LB, CLIENT) == CLIENT


def test_a_spoofed_entry_left_of_the_real_client_is_not_believed(settings: Settings) -> None:
    settings.TRUSTED_PROXIES = [LB]
    assert seen(LB, f"1.2.3.4, {CLIENT}") == CLIENT
    assert seen(LB, f"{EDGE}, {CLIENT}") == CLIENT, "an untrusted hop ends the walk"


def test_chains_of_trusted_proxies_given_as_a_network_are_walked_through(settings: Settings) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/16"]
    assert seen(LB, f"6.6.6.6, {CLIENT}, {EDGE}") == CLIENT
    # Two X-Forwarded-For header lines arrive joined with a comma: the same walk.
    assert seen(LB, f"{CLIENT},{EDGE}") == CLIENT


def test_a_client_that_talks_to_the_server_directly_cannot_claim_another_address(settings: Settings) -> None:
    settings.TRUSTED_PROXIES = [LB]
    assert seen(CLIENT, "198.51.100.1") == CLIENT


def test_a_proxy_with_no_header_or_only_trusted_hops_is_what_we_know(settings: Settings) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert seen(LB) == LB
    assert seen(LB, "") == LB
    assert seen(LB, EDGE) == EDGE


def test_garbage_in_the_header_stops_at_the_last_address_vouched_for(settings: Settings) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert seen(LB, f"{CLIENT}, not-an-ip") == LB
    assert seen(LB, f"<script>, {EDGE}") == EDGE


def test_ports_brackets_and_mapped_ipv4_are_read_as_the_address(settings: Settings) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "2001:db8::/32"]
    assert seen(LB, f"{CLIENT}:51234") == CLIENT
    assert seen(LB, "[2001:db9::1]:443") == "2001:db9::1"
    assert seen("2001:db8::10", CLIENT) == CLIENT
    assert seen(f"::ffff:{LB}", CLIENT) == CLIENT


def test_an_unparseable_trusted_proxies_setting_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import infrastructure.settings as live

    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8,not-a-network")
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        importlib.reload(live)
    monkeypatch.delenv("TRUSTED_PROXIES")
    importlib.reload(live)


def test_events_record_the_client_behind_a_trusted_proxy(
    settings: Settings, service: PropertyService
) -> None:
    settings.TRUSTED_PROXIES = [LB]
    make_user("alice")
    client = APIClient(REMOTE_ADDR=LB, HTTP_X_FORWARDED_FOR=f"6.6.6.6, {CLIENT}")
    token = client.post("/api/auth/token", {"username": "alice", "password": PASSWORD}, format="json")
    assert token.status_code == 200, token.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['access']}")
    assert client.post("/api/properties", NEW_PROPERTY, format="json").status_code == 201
    [notification] = service.recorder.select_notifications(start=1, limit=10)
    assert service.mapper.transcoder.decode(notification.state)["audit"].client_ip == CLIENT


def test_a_guessing_client_behind_the_proxy_does_not_lock_out_its_neighbours(
    settings: Settings, service: PropertyService
) -> None:
    """The per-address limit counts the client, not the proxy every client arrives through."""
    settings.TRUSTED_PROXIES = [LB]
    settings.COSMO_LOGIN_ADDRESS_FAILURES_ALLOWED = 3
    make_user("bob")
    guesser = APIClient(REMOTE_ADDR=LB, HTTP_X_FORWARDED_FOR="198.51.100.66")
    statuses = [
        guesser.post("/api/auth/token", {"username": f"user{n}", "password": "wrong-guess!"}, format="json")
        for n in range(4)
    ]
    assert [s.status_code for s in statuses] == [401, 401, 401, 429]
    neighbour = APIClient(REMOTE_ADDR=LB, HTTP_X_FORWARDED_FOR=CLIENT)
    answer = neighbour.post("/api/auth/token", {"username": "bob", "password": PASSWORD}, format="json")
    assert answer.status_code == 200, answer.content
