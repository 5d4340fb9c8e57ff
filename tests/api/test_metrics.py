"""``GET /metrics`` scraped and read with prometheus-client's own parser, on a real database.

Counters add up across tests and processes (they live in the multiprocess directory), so each
test reads a value before and after what it does.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from domain.audit import acting_as
from domain.service import PropertyService
from domain.values import PropertyKind
from infrastructure import composition
from projections.registry import all_projections
from projections.runner import catch_up
from projections.selectors import live_position
from tests.api.conftest import PASSWORD, create, make_user
from tests.conftest import context_for, quay_street
from tests.fixtures.tiny_png import png_upload

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SCRAPE_TOKEN = "scrape-token-for-tests-" + "s" * 20


@pytest.fixture(autouse=True)
def storage(settings: Settings, tmp_path: Path) -> Path:
    settings.BLOB_ROOT = tmp_path / "blobs"
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path


@pytest.fixture
def admin(client_for: Callable[..., APIClient]) -> APIClient:
    return client_for("root", role="admin")


def samples_of(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: APIClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples_of(response.content.decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_registration_counts_one_property_registered_event(admin: APIClient, manager: APIClient) -> None:
    before = value(scrape(admin), "cosmo_events_appended_total", type="cosmo.property.registered")
    create(manager)
    after = value(scrape(admin), "cosmo_events_appended_total", type="cosmo.property.registered")
    assert after == before + 1


def test_a_request_is_timed_under_its_route_method_and_status(admin: APIClient, manager: APIClient) -> None:
    labels = {"route": "api/properties/<uuid:property_id>", "method": "GET", "status": "404"}
    before = scrape(admin)
    assert manager.get(f"/api/properties/{uuid4()}").status_code == 404
    after = scrape(admin)
    name = "cosmo_http_request_duration_seconds"
    assert value(after, f"{name}_count", **labels) == value(before, f"{name}_count", **labels) + 1
    assert value(after, f"{name}_bucket", **labels, le="+Inf") == value(after, f"{name}_count", **labels)
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    manager.get(f"/no/such/{uuid4()}")
    assert value(scrape(admin), f"{name}_count", **unmatched) >= 1, "raw paths never become labels"


def test_projection_lag_and_the_photo_queue_are_read_from_the_database(
    admin: APIClient, manager: APIClient, service: PropertyService
) -> None:
    prop = create(manager)
    photo = manager.post(f"/api/properties/{prop['id']}/images", {"file": png_upload()}, format="multipart")
    assert photo.status_code == 202, photo.content
    with acting_as(context_for("alice")):  # recorded without the API: no read model applies them
        for _ in range(3):
            service.register_property(name="Unprojected", kind=PropertyKind.HOUSE, address=quay_street())
    samples = scrape(admin)
    head = service.recorder.max_notification_id()
    assert value(samples, "cosmo_event_store_head_position") == head
    for projection in all_projections():
        lag = value(samples, "cosmo_projection_lag_events", projection=projection.name)
        assert lag == head - live_position(projection.name) >= 3
        assert value(samples, "cosmo_projection_lag_seconds", projection=projection.name) > 0
    assert value(samples, "cosmo_image_queue_depth") == 1

    composition.image_policy().run_once()
    for projection in all_projections():
        catch_up(projection, service)
    samples = scrape(admin)
    assert value(samples, "cosmo_image_queue_depth") == 0
    for projection in all_projections():
        assert value(samples, "cosmo_projection_lag_events", projection=projection.name) == 0


def test_photo_processing_is_timed_by_outcome(admin: APIClient, manager: APIClient, storage: Path) -> None:
    prop = create(manager)
    name = "cosmo_image_processing_seconds_count"
    before = scrape(admin)
    assert manager.post(f"/api/properties/{prop['id']}/images", {"file": png_upload()}, format="multipart")
    composition.image_policy().run_once()
    shutil.rmtree(storage / "blobs")  # the next photo's original is gone before it is processed
    manager.post(f"/api/properties/{prop['id']}/images", {"file": png_upload((1, 2, 3))}, format="multipart")
    shutil.rmtree(storage / "blobs")
    composition.image_policy().run_once()
    after = scrape(admin)
    assert value(after, name, outcome="processed") == value(before, name, outcome="processed") + 1
    assert value(after, name, outcome="failed") == value(before, name, outcome="failed") + 1


@override_settings(COSMO_LOGIN_FAILURES_ALLOWED=2)
def test_failed_and_throttled_logins_count(admin: APIClient) -> None:
    make_user("carol")
    before = scrape(admin)
    client = APIClient()
    for expected in (401, 401, 429):
        login = client.post("/api/auth/token", {"username": "carol", "password": "wrong"}, format="json")
        assert login.status_code == expected
    right = client.post("/api/auth/token", {"username": "carol", "password": PASSWORD}, format="json")
    assert right.status_code == 429
    after = scrape(admin)
    assert value(after, "cosmo_login_failures_total") == value(before, "cosmo_login_failures_total") + 2
    assert value(after, "cosmo_login_throttled_total") == value(before, "cosmo_login_throttled_total") + 2


def test_the_checkpoint_age_is_there_once_a_checkpoint_is_signed(admin: APIClient) -> None:
    assert ("cosmo_checkpoint_age_seconds", frozenset()) not in scrape(admin)
    composition.transparency_log().make_checkpoint()
    assert 0 <= value(scrape(admin), "cosmo_checkpoint_age_seconds") < 60


def test_only_admins_and_the_scrape_token_may_read_the_metrics(
    client_for: Callable[..., APIClient], service: PropertyService
) -> None:
    anonymous = APIClient().get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    for role in ("manager", "auditor"):
        refused = client_for(f"a-{role}", role=role).get("/metrics", HTTP_ACCEPT="text/plain")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"

    scraper = APIClient()
    scraper.credentials(HTTP_AUTHORIZATION=f"Bearer {SCRAPE_TOKEN}")
    assert scraper.get("/metrics").status_code == 401, "no scrape token is configured"
    with override_settings(COSMO_METRICS_TOKEN=SCRAPE_TOKEN):
        assert "cosmo_event_store_head_position" in {name for name, _ in scrape(scraper)}
        scraper.credentials(HTTP_AUTHORIZATION=f"Bearer {SCRAPE_TOKEN}x")
        assert scraper.get("/metrics").status_code == 401
