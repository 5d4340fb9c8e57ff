"""Random sequences of every command; after each step a read's ETag is one If-Match accepts.

Hypothesis drives registrations, changes, photo uploads, processing, covers, captions, orders,
deletions and archiving through the DRF test client. After every step, each property's GET must
show the version replayed from its events (body and ETag alike), and the next conditional change
sends exactly that ETag, so a stale one shows up as a 412.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from domain.audit import acting_as
from domain.service import PropertyService
from projections.registry import all_projections
from projections.runner import catch_up
from tests.api.conftest import NEW_PROPERTY
from tests.conftest import context_for
from tests.fixtures.image_outcomes import record_processed
from tests.fixtures.tiny_png import png_upload

BOUNDED = hypothesis_settings(max_examples=15, stateful_step_count=10, deadline=None)


@dataclass
class Model:
    """What the test expects of one property; ``etag`` is the one its last GET showed."""

    id: str
    etag: str
    archived: bool = False
    images: list[str] = field(default_factory=list)
    cover: str | None = None


class PropertyCommands(RuleBasedStateMachine):
    client: APIClient
    service: PropertyService

    def __init__(self) -> None:
        super().__init__()
        self.properties: list[Model] = []
        self.counter = 0

    def fresh(self, what: str) -> str:
        self.counter += 1
        return f"{what} {self.counter}"

    def expect(self, response: Any, status: int) -> Any:
        assert response.status_code == status, (response.status_code, response.content)
        return response

    # Commands -------------------------------------------------------------------------------

    @precondition(lambda self: len(self.properties) < 3)
    @rule()
    def register(self) -> None:
        body = {**NEW_PROPERTY, "name": self.fresh("Harbour")}
        response = self.expect(self.client.post("/api/properties", body, format="json"), 201)
        self.properties.append(Model(id=response.json()["id"], etag=response["ETag"]))

    @precondition(lambda self: self.properties)
    @rule(data=st.data(), rent=st.one_of(st.none(), st.integers(0, 5000)))
    def patch(self, data: st.DataObject, rent: int | None) -> None:
        prop = data.draw(st.sampled_from(self.properties))
        body = {
            "name": self.fresh("Harbour"),
            "rent": None if rent is None else {"amount": rent, "currency": "EUR"},
        }
        response = self.client.patch(
            f"/api/properties/{prop.id}", body, format="json", HTTP_IF_MATCH=prop.etag
        )
        self.expect(response, 409 if prop.archived else 200)

    @precondition(lambda self: self.properties)
    @rule(data=st.data(), colour=st.tuples(*[st.integers(0, 255)] * 3))
    def upload(self, data: st.DataObject, colour: tuple[int, int, int]) -> None:
        prop = data.draw(st.sampled_from(self.properties))
        response = self.client.post(
            f"/api/properties/{prop.id}/images", {"file": png_upload(colour)}, format="multipart"
        )
        self.expect(response, 409 if prop.archived else 202)
        if not prop.archived:
            prop.images.append(response.json()["id"])
            prop.cover = prop.cover or prop.images[0]

    @precondition(lambda self: any(prop.images for prop in self.properties))
    @rule(data=st.data())
    def process(self, data: st.DataObject) -> None:
        """The image policy stores the variants: an image event, the property's version stays."""
        image_id = data.draw(st.sampled_from([i for prop in self.properties for i in prop.images]))
        if self.client.get(f"/api/images/{image_id}").json()["status"] != "pending":
            return
        record_processed(self.service, UUID(image_id))
        for projection in all_projections():
            catch_up(projection, self.service)

    @precondition(lambda self: any(prop.images for prop in self.properties))
    @rule(data=st.data())
    def set_cover(self, data: st.DataObject) -> None:
        prop = data.draw(st.sampled_from([prop for prop in self.properties if prop.images]))
        image_id = data.draw(st.sampled_from(prop.images))
        response = self.client.put(f"/api/properties/{prop.id}/cover", {"image_id": image_id}, format="json")
        self.expect(response, 409 if prop.archived else 200)
        if not prop.archived:
            prop.cover = image_id

    @precondition(lambda self: any(prop.images for prop in self.properties))
    @rule(data=st.data())
    def caption(self, data: st.DataObject) -> None:
        image_id = data.draw(st.sampled_from([i for prop in self.properties for i in prop.images]))
        body = {"caption": self.fresh("Sea view")}
        self.expect(self.client.patch(f"/api/images/{image_id}", body, format="json"), 200)

    @precondition(lambda self: any(len(prop.images) > 1 for prop in self.properties))
    @rule(data=st.data())
    def reorder(self, data: st.DataObject) -> None:
        prop = data.draw(st.sampled_from([prop for prop in self.properties if len(prop.images) > 1]))
        order = data.draw(st.permutations(prop.images))
        response = self.client.put(
            f"/api/properties/{prop.id}/images/order", {"image_ids": order}, format="json"
        )
        self.expect(response, 409 if prop.archived else 200)
        if not prop.archived:
            prop.images = list(order)

    @precondition(lambda self: any(prop.images for prop in self.properties))
    @rule(data=st.data())
    def delete_image(self, data: st.DataObject) -> None:
        """Allowed even once archived: a photo may have to go for legal reasons."""
        prop = data.draw(st.sampled_from([prop for prop in self.properties if prop.images]))
        image_id = data.draw(st.sampled_from(prop.images))
        self.expect(self.client.delete(f"/api/images/{image_id}"), 204)
        prop.images.remove(image_id)
        if prop.cover == image_id:
            prop.cover = prop.images[0] if prop.images else None

    @precondition(lambda self: self.properties)
    @rule(data=st.data())
    def archive(self, data: st.DataObject) -> None:
        prop = data.draw(st.sampled_from(self.properties))
        response = self.client.post(
            f"/api/properties/{prop.id}/archive", {"reason": "sold"}, format="json", HTTP_IF_MATCH=prop.etag
        )
        self.expect(response, 409 if prop.archived else 200)
        prop.archived = True

    # What must hold after every step --------------------------------------------------------

    @invariant()
    def reads_show_the_replayed_version_and_their_etag_is_accepted(self) -> None:
        for prop in self.properties:
            response = self.expect(self.client.get(f"/api/properties/{prop.id}"), 200)
            body = response.json()
            with acting_as(context_for("alice")):
                replayed = self.service.get_property(UUID(prop.id))
            assert body["version"] == replayed.version
            assert response["ETag"] == f'"{replayed.version}"'
            assert body["status"] == ("archived" if prop.archived else "active")
            assert (body["cover"] or {}).get("image_id") == prop.cover
            assert replayed.cover_image_id == (prop.cover and UUID(prop.cover))
            prop.etag = response["ETag"]  # the next conditional change sends exactly this


@pytest.fixture(autouse=True)
def storage(settings: Settings, tmp_path: Path) -> None:
    settings.BLOB_ROOT = tmp_path / "blobs"
    settings.MEDIA_ROOT = tmp_path / "media"


def test_after_any_sequence_of_commands_a_reads_etag_works_as_if_match(
    manager: APIClient, service: PropertyService
) -> None:
    machine = type("Machine", (PropertyCommands,), {"client": manager, "service": service})
    run_state_machine_as_test(machine, settings=BOUNDED)
