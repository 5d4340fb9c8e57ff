"""Idempotency-Key through the DRF test client, on a real database: retries never record twice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from api import idempotency
from domain.audit import peek_audit_context
from domain.service import PropertyService
from infrastructure.event_store import ChainedRecorder
from infrastructure.idempotency import pending_claim
from tests.api.conftest import NEW_PROPERTY, create
from tests.fixtures.tiny_png import tiny_png


def post(client: APIClient, key: str, body: dict[str, Any] | None = None) -> Any:
    return client.post("/api/properties", body or NEW_PROPERTY, format="json", HTTP_IDEMPOTENCY_KEY=key)


def head(service: PropertyService) -> int:
    return service.recorder.max_notification_id() or 0


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def test_the_same_key_three_times_registers_one_property_and_replays_the_first_answer(
    manager: APIClient, service: PropertyService
) -> None:
    first, second, third = (post(manager, "retry-1") for _ in range(3))
    assert [r.status_code for r in (first, second, third)] == [201, 201, 201]
    assert first.content == second.content == third.content
    for replayed in (second, third):
        assert replayed["Idempotent-Replayed"] == "true"
        for name in ("ETag", "Location", "X-Cosmo-Position", "Content-Type"):
            assert replayed[name] == first[name]
    assert not first.has_header("Idempotent-Replayed")
    assert head(service) == 1
    assert manager.get("/api/properties").json()["count"] == 1


def test_the_same_key_with_a_different_request_is_refused(
    manager: APIClient, service: PropertyService
) -> None:
    assert post(manager, "k").status_code == 201
    response = post(manager, "k", {**NEW_PROPERTY, "name": "Somewhere Else"})
    assert (response.status_code, error_code(response)) == (422, "idempotency_key_reused")
    other_path = manager.patch(
        "/api/properties/00000000-0000-0000-0000-000000000000",
        {"name": "x"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert (other_path.status_code, error_code(other_path)) == (422, "idempotency_key_reused")
    assert head(service) == 1


def test_different_users_use_the_same_key_independently(
    client_for: Callable[..., APIClient], service: PropertyService
) -> None:
    alice, bob = client_for("alice"), client_for("bob")
    assert post(alice, "shared").status_code == 201
    response = post(bob, "shared")
    assert response.status_code == 201
    assert not response.has_header("Idempotent-Replayed")
    assert head(service) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "clé", "tab\there", "bell\x07"])
def test_a_malformed_key_is_refused_before_anything_runs(
    manager: APIClient, service: PropertyService, key: str
) -> None:
    response = post(manager, key)
    assert response.status_code == 400
    assert error_code(response) == "invalid"
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]
    assert head(service) == 0


def test_the_longest_key_is_accepted(manager: APIClient, service: PropertyService) -> None:
    assert post(manager, "k" * 255).status_code == 201


def test_answers_that_recorded_nothing_are_replayed_too(manager: APIClient, service: PropertyService) -> None:
    prop = create(manager)
    path = f"/api/properties/{prop['id']}"
    stale = [
        manager.patch(path, {"name": "New"}, format="json", HTTP_IF_MATCH='"7"', HTTP_IDEMPOTENCY_KEY="s")
    ]
    stale.append(
        manager.patch(path, {"name": "New"}, format="json", HTTP_IF_MATCH='"7"', HTTP_IDEMPOTENCY_KEY="s")
    )
    assert [r.status_code for r in stale] == [412, 412]
    assert stale[1]["Idempotent-Replayed"] == "true"
    assert stale[0].content == stale[1].content
    assert head(service) == 1


def test_reads_ignore_the_key(manager: APIClient, service: PropertyService) -> None:
    prop = create(manager)
    response = manager.get(f"/api/properties/{prop['id']}", HTTP_IDEMPOTENCY_KEY="")
    assert response.status_code == 200
    assert not response.has_header("Idempotent-Replayed")


def test_an_expired_key_counts_as_new(
    manager: APIClient, service: PropertyService, settings: Settings
) -> None:
    settings.COSMO_IDEMPOTENCY_KEY_HOURS = 0
    assert post(manager, "old").status_code == 201
    second = post(manager, "old", {**NEW_PROPERTY, "name": "Another"})
    assert second.status_code == 201
    assert not second.has_header("Idempotent-Replayed")
    assert head(service) == 2


def test_a_retried_upload_and_delete_are_replayed(
    manager: APIClient, service: PropertyService, settings: Settings, tmp_path: Path
) -> None:
    settings.BLOB_ROOT = tmp_path / "blobs"
    prop = create(manager)

    def upload() -> Any:
        file = SimpleUploadedFile("p.png", tiny_png(), content_type="image/png")
        return manager.post(
            f"/api/properties/{prop['id']}/images",
            {"file": file},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="up",
        )

    first, again = upload(), upload()
    assert (first.status_code, again.status_code) == (202, 202)
    assert again["Idempotent-Replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    assert head(service) == 3
    deleted = [
        manager.delete(f"/api/images/{first.json()['id']}", HTTP_IDEMPOTENCY_KEY="rm") for _ in range(2)
    ]
    assert [r.status_code for r in deleted] == [204, 204]
    assert deleted[1]["Idempotent-Replayed"] == "true"
    assert not deleted[1].has_header("Content-Type")
    assert head(service) == 5


def test_a_key_whose_answer_was_lost_is_in_use_and_never_runs_again(
    manager: APIClient, service: PropertyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process died after the events were committed and before the answer was stored."""
    monkeypatch.setattr(idempotency, "WAIT_FOR_FIRST_SECONDS", 0.2)
    with monkeypatch.context() as dying:
        dying.setattr(ChainedRecorder, "store_idempotent_response", lambda *args: True)
        assert post(manager, "lost").status_code == 201
    retried = post(manager, "lost")
    assert (retried.status_code, error_code(retried)) == (409, "idempotency_key_in_use")
    assert head(service) == 1


def test_an_unhandled_error_leaves_no_key_bound_for_the_next_request(
    manager: APIClient, service: PropertyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    with monkeypatch.context() as failing:
        failing.setattr(PropertyService, "register_property", broken)
        failed = post(manager, "unlucky")
    assert (failed.status_code, error_code(failed)) == (500, "server_error")
    assert pending_claim() is None
    assert peek_audit_context() is None
    assert post(manager, "unlucky").status_code == 201, "a 500 is not remembered"
