"""The operators' admin through Django's test client: who may log in, what the pages show from the
read models, and that its actions are commands recorded as events naming the admin."""

from __future__ import annotations

import re
from uuid import UUID

import pytest
from django.test import Client

from api.models import User
from domain.audit import acting_as
from domain.service import PropertyChanges, PropertyService, Receipt
from domain.values import PropertyKind
from projections.models import GalleryImage, ProjectionState, PropertyListing
from tests.api.conftest import PASSWORD, make_user
from tests.api.test_images import project
from tests.conftest import context_for, quay_street, rent
from tests.fixtures import hard_images as hard
from tests.fixtures.image_outcomes import file_of, record_failed, record_processed

ROCKET = hard.photo("rocket.jpg")


@pytest.fixture
def admin_user(service: PropertyService) -> User:
    return make_user("ops", organisation="cosmo", role="admin")


@pytest.fixture
def browser(admin_user: User) -> Client:
    """A browser logged in through the admin's login form."""
    client = Client(REMOTE_ADDR="198.51.100.40")
    response = client.post("/admin/login/", {"username": "ops", "password": PASSWORD, "next": "/admin/"})
    assert (response.status_code, response["Location"]) == (302, "/admin/"), response.content
    return client


@pytest.fixture
def harbour(service: PropertyService) -> tuple[UUID, UUID]:
    """A property of acme, renamed once, with one processed photo as its cover: (property, image)."""
    with acting_as(context_for("alice")):
        registered = service.register_property(
            name="Harbour View Flats", kind=PropertyKind.APARTMENT, address=quay_street(), rent=rent()
        )
        service.update_property(registered.id, PropertyChanges(name="Harbour View Apartments"), None)
        image = service.add_image(registered.id, file_of(ROCKET, "rocket.jpg"), "the quay at dusk")
    record_processed(service, image.id)
    project(service)
    return registered.id, image.id


def _row(property_id: UUID) -> int:
    """The checkbox value of a property's row on the list: its row's primary key."""
    return int(PropertyListing.live().get(property_id=property_id).pk)


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def events_of(service: PropertyService, aggregate_id: UUID) -> list[object]:
    return list(service.events.get(aggregate_id))


def test_only_admins_log_in_and_everyone_else_is_sent_to_the_login_page(service: PropertyService) -> None:
    make_user("alice", role="manager")
    make_user("audrey", role="auditor")
    for username in ("alice", "audrey"):
        client = Client()
        response = client.post(
            "/admin/login/", {"username": username, "password": PASSWORD, "next": "/admin/"}
        )
        assert response.status_code == 200, "the form again, with an error"
        assert "Please enter the correct username and password" in response.content.decode()
        assert client.get("/admin/").status_code == 302
    assert Client().get("/admin/projections/propertylisting/")["Location"].startswith("/admin/login/")


def test_failed_admin_logins_count_like_the_apis(admin_user: User, settings: object) -> None:
    client = Client(REMOTE_ADDR="198.51.100.41")
    for _ in range(5):
        refused = client.post("/admin/login/", {"username": "ops", "password": "not the password"})
        assert "Please enter the correct username" in refused.content.decode()
    throttled = client.post("/admin/login/", {"username": "OPS", "password": PASSWORD})
    assert throttled.status_code == 200
    assert "Too many failed logins" in throttled.content.decode()
    assert client.get("/admin/").status_code == 302


def test_the_property_list_shows_cover_thumbnails_and_filters(
    browser: Client, harbour: tuple[UUID, UUID], service: PropertyService
) -> None:
    property_id, image_id = harbour
    with acting_as(context_for("bob", organisation="globex")):
        service.register_property(name="Dockside Lofts", kind=PropertyKind.HOUSE, address=quay_street())
    project(service)
    listing = page(browser, "/admin/projections/propertylisting/")
    assert "Harbour View Apartments" in listing
    assert "Dockside Lofts" in listing
    assert f'src="/media/images/{image_id}/240.webp"' in listing, "the smallest variant of the cover"
    assert f'href="/admin/projections/propertylisting/{property_id}/change/"' in listing
    filtered = page(browser, "/admin/projections/propertylisting/?organisation=globex")
    assert "Dockside Lofts" in filtered
    assert "Harbour View Apartments" not in filtered
    assert "Dockside Lofts" not in page(browser, "/admin/projections/propertylisting/?kind=apartment")
    assert "Dockside Lofts" in page(browser, "/admin/projections/propertylisting/?q=dockside")


def test_a_property_page_shows_its_photos_and_its_history_with_diffs_and_actors(
    browser: Client, harbour: tuple[UUID, UUID]
) -> None:
    property_id, image_id = harbour
    body = page(browser, f"/admin/projections/propertylisting/{property_id}/change/")
    assert f'src="/media/images/{image_id}/240.webp"' in body
    rows = re.findall(r"<tr><td>(\d+)</td><td>[^<]*</td><td>(\w+)</td><td>([^<]*)</td>", body)
    assert rows[:3] == [
        ("1", "PropertyRegistered", "alice (manager)"),
        ("2", "PropertyRenamed", "alice (manager)"),
        ("3", "ImageAdded", "alice (manager)"),
    ]
    assert "<li><b>name</b>: Harbour View Flats → Harbour View Apartments</li>" in body
    assert ("ImageProcessed", "image-policy (system)") in [(kind, actor) for _, kind, actor in rows]
    assert 'name="_save"' not in body, "a page to read, not a form to save"


def test_an_unknown_or_malformed_property_is_not_found(browser: Client, harbour: tuple[UUID, UUID]) -> None:
    for key in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        response = browser.get(f"/admin/projections/propertylisting/{key}/change/")
        assert response.status_code == 302, "Django's admin goes back to the list with a message"


def test_nothing_can_be_added_changed_or_deleted_through_a_form(
    browser: Client, harbour: tuple[UUID, UUID]
) -> None:
    property_id, _ = harbour
    base = "/admin/projections/propertylisting/"
    assert browser.get(f"{base}add/").status_code == 403
    assert browser.post(f"{base}{property_id}/change/", {"name": "Hijacked"}).status_code == 403
    assert browser.post(f"{base}{property_id}/delete/", {"post": "yes"}).status_code == 403
    assert PropertyListing.live().get(property_id=property_id).name == "Harbour View Apartments"


def test_archiving_runs_the_command_as_the_admin(
    browser: Client, admin_user: User, harbour: tuple[UUID, UUID], service: PropertyService
) -> None:
    property_id, _ = harbour
    response = browser.post(
        "/admin/projections/propertylisting/",
        {"action": "archive", "_selected_action": [_row(property_id)]},
        follow=True,
    )
    assert "Archived: 1" in response.content.decode()
    archived = events_of(service, property_id)[-1]
    assert type(archived).__name__ == "PropertyArchived"
    audit = archived.audit  # type: ignore[attr-defined]
    assert (audit.username, audit.actor_id, audit.role) == ("ops", str(admin_user.pk), "admin")
    assert PropertyListing.live().get(property_id=property_id).status == "archived", "read models caught up"
    again = browser.post(
        "/admin/projections/propertylisting/",
        {"action": "archive", "_selected_action": [_row(property_id)]},
        follow=True,
    )
    assert "is archived" in again.content.decode(), "the domain's refusal, shown as a message"


def test_retrying_a_failed_photo_is_recorded_for_the_admin(browser: Client, service: PropertyService) -> None:
    with acting_as(context_for("alice")):
        registered = service.register_property(
            name="Pier House", kind=PropertyKind.HOUSE, address=quay_street()
        )
        image: Receipt = service.add_image(registered.id, file_of(ROCKET), "")
    record_failed(service, image.id, "the store timed out")
    project(service)
    failed = page(browser, "/admin/projections/galleryimage/?status__exact=failed")
    assert str(image.id) in failed
    browser.post(
        "/admin/projections/galleryimage/",
        {"action": "retry", "_selected_action": [GalleryImage.live().get(image_id=image.id).pk]},
    )
    retried = events_of(service, image.id)[-1]
    assert type(retried).__name__ == "ImageRetryRequested"
    assert retried.audit.username == "ops"  # type: ignore[attr-defined]
    assert page(browser, f"/admin/projections/galleryimage/{image.id}/change/").count("pending") >= 1


def test_the_audit_timeline_filters_by_event_type(browser: Client, harbour: tuple[UUID, UUID]) -> None:
    renamed = page(browser, "/admin/projections/audittimelineentry/?event_type=PropertyRenamed")
    assert re.findall(r'class="field-event_type">(\w+)<', renamed) == ["PropertyRenamed"]
    assert 'href="/admin/projections/audittimelineentry/2/change/?' in renamed, "addressed by position"
    assert "alice" in page(browser, "/admin/projections/audittimelineentry/2/change/")


def test_projections_show_their_status_and_rebuild_through_the_runner(
    browser: Client, harbour: tuple[UUID, UUID]
) -> None:
    listing = page(browser, "/admin/projections/projectionstate/")
    assert re.search(r'>property_list</a>.*?field-state">live<', listing, re.S)
    before = ProjectionState.objects.get(name="property_list").generation
    response = browser.post(
        "/admin/projections/projectionstate/",
        {"action": "rebuild", "_selected_action": ["property_list"]},
        follow=True,
    )
    assert "Rebuilt property_list from" in response.content.decode()
    assert ProjectionState.objects.get(name="property_list").generation == before + 1
    assert "Harbour View Apartments" in page(browser, "/admin/projections/propertylisting/")


def test_an_admin_session_is_no_credential_for_the_api(browser: Client, harbour: tuple[UUID, UUID]) -> None:
    response = browser.get("/api/properties")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert "Cookie" not in response.get("Vary", ""), "API answers do not vary with the admin's cookie"


def test_admin_without_a_slash_goes_to_the_admin(service: PropertyService) -> None:
    response = Client().get("/admin")
    assert (response.status_code, response["Location"]) == (302, "/admin/")


def test_no_password_form_and_no_link_to_a_site_that_is_an_api(browser: Client, admin_user: User) -> None:
    index = page(browser, "/admin/")
    assert "/admin/password_change/" not in index
    assert "View site" not in index
    response = browser.post(
        "/admin/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "another-horse-battery",
            "new_password2": "another-horse-battery",
        },
    )
    assert response.status_code == 404
    admin_user.refresh_from_db()
    assert admin_user.check_password(PASSWORD)


def test_what_users_typed_is_shown_as_text_never_as_markup(browser: Client, service: PropertyService) -> None:
    with acting_as(context_for("mallory")):
        registered = service.register_property(
            name="<script>alert(1)</script>", kind=PropertyKind.LAND, address=quay_street()
        )
    project(service)
    for url in (
        "/admin/projections/propertylisting/",
        f"/admin/projections/propertylisting/{registered.id}/change/",
    ):
        body = page(browser, url)
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_the_api_schema_knows_nothing_of_the_admin(browser: Client) -> None:
    schema = browser.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    api_paths = ("/api/", "/health", "/ready", "/media/", "/metrics")
    assert all(path.startswith(api_paths) for path in schema["paths"])
    schemes = schema["components"]["securitySchemes"]
    assert set(schemes) == {"jwtAuth", "metricsToken"}, "no cookie or session scheme"
    assert all(scheme["type"] == "http" for scheme in schemes.values())
