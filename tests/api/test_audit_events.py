"""The global audit stream: paging, filters, the NDJSON export and its CLI twin, and who may read them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from typing import Any

import orjson
import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from api import audit_stream
from api.models import User
from domain.service import PropertyService
from infrastructure.audit_trail import chained
from infrastructure.event_store import AuditFilter
from tests.api.conftest import NEW_PROPERTY, create
from tests.api.test_properties import error_of


@dataclass
class Story:
    """Five events: alice registers and changes a property, bob registers one, alice archives hers."""

    auditor: APIClient
    alice: APIClient
    harbour: str
    mill: str


@pytest.fixture
def story(client_for: Callable[..., APIClient]) -> Story:
    alice, bob = client_for("alice"), client_for("bob", "globex")
    registered = alice.post("/api/properties", NEW_PROPERTY, format="json", HTTP_X_REQUEST_ID="req-register")
    harbour = registered.json()["id"]
    patch = {"name": "Harbour View Apartments", "rent": {"amount": "1300.00", "currency": "EUR"}}
    assert alice.patch(f"/api/properties/{harbour}", patch, format="json").status_code == 200
    mill = create(bob, name="Old Mill", kind="commercial", rent=None)["id"]
    assert (
        alice.post(f"/api/properties/{harbour}/archive", {"reason": "sold"}, format="json").status_code == 200
    )
    return Story(client_for("ann", "audit-firm", "auditor"), alice, harbour, mill)


def page(client: APIClient, **query: Any) -> dict[str, Any]:
    response = client.get("/api/audit/events", query)
    assert response.status_code == 200, response.content
    return dict(response.json())


def positions(body: dict[str, Any]) -> list[int]:
    return [event["position"] for event in body["events"]]


def export_lines(client: APIClient, **query: Any) -> list[bytes]:
    response = client.get("/api/audit/export", query)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-ndjson"
    body = response.getvalue()
    assert body.endswith(b"\n") or not body
    return body.splitlines()


def test_an_event_says_what_happened_to_which_aggregate_who_did_it_and_from_where(story: Story) -> None:
    first = page(story.auditor, limit=1)["events"][0]
    alice = User.objects.get(username="alice")
    assert first["timestamp"].endswith("Z")
    assert {key: value for key, value in first.items() if key != "timestamp"} == {
        "position": 1,
        "aggregate_id": story.harbour,
        "aggregate_type": "Property",
        "version": 1,
        "type": "PropertyRegistered",
        "actor": {"id": str(alice.pk), "username": "alice", "role": "manager"},
        "data": {
            "organisation": "acme",
            "name": "Harbour View Flats",
            "kind": "apartment",
            "address": {"street": "1 Quay St", "city": "Lisbon", "postal_code": "1100-001", "country": "PT"},
            "rent": {"amount": "1250.00", "currency": "EUR"},
            "status": "active",
            "class_version": 2,
        },
        "metadata": {
            "actor_id": str(alice.pk),
            "username": "alice",
            "role": "manager",
            "organisation": "acme",
            "request_id": "req-register",
            "causation_id": "",
            "client_ip": "198.51.100.23",
            "user_agent": "cosmo-tests/1.0",
        },
    }


def test_every_event_type_appears_with_its_own_fields_as_data(story: Story) -> None:
    events = page(story.auditor)["events"]
    assert [(e["type"], e["aggregate_id"], e["version"], e["data"]) for e in events[1:]] == [
        ("PropertyRenamed", story.harbour, 2, {"name": "Harbour View Apartments"}),
        ("RentChanged", story.harbour, 3, {"rent": {"amount": "1300.00", "currency": "EUR"}}),
        ("PropertyRegistered", story.mill, 1, events[3]["data"]),
        ("PropertyArchived", story.harbour, 4, {"reason": "sold"}),
    ]
    assert events[3]["data"]["rent"] is None
    assert events[3]["actor"]["username"] == "bob"


def test_pages_follow_next_after_to_the_end_without_gaps(story: Story) -> None:
    seen: list[list[int]] = []
    after = 0
    while body := page(story.auditor, after=after, limit=2):
        if not body["events"]:
            assert body["next_after"] == after
            break
        seen.append(positions(body))
        after = body["next_after"]
        assert after == seen[-1][-1]
    assert seen == [[1, 2], [3, 4], [5]]


def test_a_client_paging_while_writes_go_on_never_misses_or_repeats_an_event(
    client_for: Callable[..., APIClient],
) -> None:
    alice, auditor = client_for("alice"), client_for("ann", "audit-firm", "auditor")
    create(alice, name="Before paging")
    read: list[int] = []
    after = 0
    for round_ in range(4):
        body = page(auditor, after=after, limit=2)
        read += positions(body)
        after = body["next_after"]
        for n in range(round_ + 1):
            create(alice, name=f"Written between pages {round_}.{n}")
    while body := page(auditor, after=after, limit=2):
        if not body["events"]:
            break
        read += positions(body)
        after = body["next_after"]
    assert read == list(range(1, 12))
    assert after == 11


def test_filters_by_type_and_actor(story: Story) -> None:
    assert positions(page(story.auditor, type="PropertyRegistered")) == [1, 4]
    assert positions(page(story.auditor, type="RentChanged")) == [3]
    assert positions(page(story.auditor, actor="bob")) == [4]
    assert positions(page(story.auditor, actor="nobody")) == []
    assert positions(page(story.auditor, type="PropertyRegistered", actor="alice")) == [1]


def test_filter_by_aggregate(story: Story) -> None:
    body = page(story.auditor, aggregate_id=story.harbour)
    assert positions(body) == [1, 2, 3, 5]
    assert [e["version"] for e in body["events"]] == [1, 2, 3, 4]
    assert positions(page(story.auditor, aggregate_id=story.mill)) == [4]


def test_since_is_inclusive_and_until_exclusive(story: Story) -> None:
    mill_registered = page(story.auditor, after=3, limit=1)["events"][0]["timestamp"]
    assert positions(page(story.auditor, since=mill_registered)) == [4, 5]
    assert positions(page(story.auditor, until=mill_registered)) == [1, 2, 3]
    assert positions(page(story.auditor, since="2000-01-01T00:00:00Z", until=mill_registered)) == [1, 2, 3]
    assert positions(page(story.auditor, since="2999-01-01")) == []


def test_filtered_pages_skip_what_does_not_match_and_keep_next_after_on_the_last_match(story: Story) -> None:
    first = page(story.auditor, type="PropertyRegistered", limit=1)
    assert (positions(first), first["next_after"]) == ([1], 1)
    second = page(story.auditor, type="PropertyRegistered", limit=1, after=1)
    assert (positions(second), second["next_after"]) == ([4], 4)
    last = page(story.auditor, type="PropertyRegistered", limit=1, after=4)
    assert (positions(last), last["next_after"]) == ([], 4)


BAD_FILTERS: list[tuple[dict[str, str], str]] = [
    ({"aggregate_id": "not-a-uuid"}, "aggregate_id"),
    ({"type": "PropertyDemolished"}, "type"),
    ({"since": "last tuesday"}, "since"),
    ({"until": "2026-13-01T00:00:00Z"}, "until"),
    ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
    ({"aggregate": "a misspelt filter must not silently match everything"}, "aggregate"),
]
BAD_PAGES: list[tuple[dict[str, str], str]] = [
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"after": "-1"}, "after"),
]


def test_bad_query_values_are_400_naming_the_parameter(client_for: Callable[..., APIClient]) -> None:
    auditor = client_for("ann", "audit-firm", "auditor")
    cases = [("/api/audit/events", query, field) for query, field in BAD_FILTERS + BAD_PAGES]
    cases += [("/api/audit/export", query, field) for query, field in BAD_FILTERS]
    for path, query, field in cases:
        response = auditor.get(path, query)
        assert response.status_code == 400, (path, query, response.content)
        error = error_of(response)
        assert (error["code"], list(error["fields"])) == ("invalid", [field]), (path, query)


def test_only_auditors_and_admins_read_the_audit_trail(client_for: Callable[..., APIClient]) -> None:
    manager, auditor = client_for("alice"), client_for("ann", "audit-firm", "auditor")
    admin = client_for("root", "acme", "admin")
    for path in ("/api/audit/events", "/api/audit/export", "/api/audit/verify"):
        refused = manager.get(path)
        assert refused.status_code == 403, path
        assert error_of(refused)["code"] == "permission_denied"
        assert auditor.get(path).status_code == 200, path
        assert admin.get(path).status_code == 200, path
        anonymous = APIClient().get(path)
        assert anonymous.status_code == 401, path
        assert error_of(anonymous)["code"] == "not_authenticated"


def test_export_is_the_events_endpoints_events_one_per_line_in_order(story: Story) -> None:
    lines = export_lines(story.auditor)
    assert [orjson.loads(line) for line in lines] == page(story.auditor)["events"]
    renamed = export_lines(story.auditor, type="PropertyRenamed", actor="alice")
    assert [orjson.loads(line) for line in renamed] == page(story.auditor, type="PropertyRenamed")["events"]
    assert export_lines(story.auditor, actor="nobody") == []


@pytest.mark.parametrize("hold_connection", [False, True], ids=["connection per batch", "one connection"])
def test_export_streams_in_batches_up_to_the_head_it_started_from(
    story: Story, service: PropertyService, monkeypatch: pytest.MonkeyPatch, hold_connection: bool
) -> None:
    monkeypatch.setattr(audit_stream, "BATCH_SIZE", 2)
    chunks = audit_stream.ndjson_chunks(service, AuditFilter(), hold_connection)
    first = next(chunks)
    create(story.alice, name="Recorded during the export")
    rest = list(chunks)
    assert [len(chunk.splitlines()) for chunk in [first, *rest]] == [2, 2, 1]
    lines = b"".join([first, *rest]).splitlines()
    assert [orjson.loads(line)["position"] for line in lines] == [1, 2, 3, 4, 5]


def test_cli_export_writes_the_same_lines_as_the_api(story: Story) -> None:
    out = StringIO()
    call_command("audit", "export", stdout=out)
    assert out.getvalue().encode().splitlines() == export_lines(story.auditor)
    filtered = StringIO()
    call_command("audit", "export", "--aggregate-id", story.mill, "--since", "2000-01-01", stdout=filtered)
    assert filtered.getvalue().encode().splitlines() == export_lines(story.auditor, aggregate_id=story.mill)


def test_cli_export_refuses_bad_filters_naming_the_option(story: Story) -> None:
    with pytest.raises(CommandError, match=r"--aggregate-id: .*UUID"):
        call_command("audit", "export", "--aggregate-id", "nope", stdout=StringIO())
    with pytest.raises(CommandError, match="--type: "):
        call_command("audit", "export", "--type", "PropertyDemolished", stdout=StringIO())


@pytest.mark.parametrize("workers", [2, 3])
def test_cli_export_over_forked_workers_writes_the_same_bytes_as_one_process(
    story: Story, service: PropertyService, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    filters = [[], ["--aggregate-id", story.harbour], ["--type", "PropertyRenamed"]]
    alone = [export_output("--workers", "1", *where) for where in filters]
    assert chained(service.recorder).readable_elsewhere, "the store must be a file the workers can open"
    monkeypatch.setattr(audit_stream, "BATCH_SIZE", 1)  # five ranges: each process presents some
    monkeypatch.setattr(audit_stream, "FORK_MIN_EVENTS", 1)
    forked = [export_output("--workers", str(workers), *where) for where in filters]
    assert forked == alone
    assert [len(output.splitlines()) for output in alone] == [5, 4, 1]


def test_a_failed_export_worker_stops_the_export(
    story: Story, service: PropertyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_stream, "BATCH_SIZE", 1)
    monkeypatch.setattr(audit_stream, "FORK_MIN_EVENTS", 1)
    present = audit_stream._range_chunk

    def failing_in_the_worker(*args: Any) -> bytes:
        if args[3] % 2:  # the range index: odd ranges are the forked worker's
            raise RuntimeError("the worker's disk is on fire")
        return present(*args)

    monkeypatch.setattr(audit_stream, "_range_chunk", failing_in_the_worker)
    chunks = audit_stream.forked_ndjson_chunks(service, AuditFilter(), 2)
    assert next(chunks).count(b"\n") == 1
    with pytest.raises(audit_stream.ExportWorkerFailed, match="exit code 1"):
        next(chunks)


def export_output(*args: str) -> str:
    out = StringIO()
    call_command("audit", "export", *args, stdout=out)
    return out.getvalue()
