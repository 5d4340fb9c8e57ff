"""Strict text and exact money at the HTTP edge: refused with a 400 that names the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from tests.api.conftest import NEW_PROPERTY, create
from tests.fixtures.tiny_png import png_upload

RLO, BOM, ZWSP = "\u202e", "\ufeff", "\u200b"


@pytest.fixture(autouse=True)
def storage(settings: Settings, tmp_path: Path) -> None:
    settings.BLOB_ROOT = tmp_path / "blobs"
    settings.MEDIA_ROOT = tmp_path / "media"


def refused_fields(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    return dict(response.json()["error"]["fields"])


def post_property(client: APIClient, **overrides: Any) -> Any:
    return client.post("/api/properties", {**NEW_PROPERTY, **overrides}, format="json")


@pytest.mark.parametrize("char", [RLO, BOM, ZWSP])
def test_a_name_with_a_bidi_override_or_invisible_character_is_refused(manager: APIClient, char: str) -> None:
    assert "name" in refused_fields(post_property(manager, name=f"Harbour{char}View"))
    prop = create(manager)
    patch = manager.patch(f"/api/properties/{prop['id']}", {"name": f"{char}Harbour"}, format="json")
    assert "name" in refused_fields(patch)


def test_an_address_part_with_a_bidi_override_is_refused_under_its_name(manager: APIClient) -> None:
    address = {**NEW_PROPERTY["address"], "city": f"Lis{RLO}bon"}
    assert "city" in refused_fields(post_property(manager, address=address))["address"]


def test_an_emoji_name_spelled_with_zero_width_joiners_is_kept(manager: APIClient) -> None:
    name = "\U0001f469\u200d\U0001f527 Workshop"
    assert create(manager, name=name)["name"] == name


def test_captions_and_archive_reasons_with_invisible_characters_are_refused(manager: APIClient) -> None:
    prop = create(manager)
    upload = manager.post(
        f"/api/properties/{prop['id']}/images",
        {"file": png_upload(), "caption": f"Sea{BOM}view"},
        format="multipart",
    )
    assert "caption" in refused_fields(upload)
    image = manager.post(f"/api/properties/{prop['id']}/images", {"file": png_upload()}, format="multipart")
    assert image.status_code == 202, image.content
    caption = manager.patch(f"/api/images/{image.json()['id']}", {"caption": f"Sea{RLO}view"}, format="json")
    assert "caption" in refused_fields(caption)
    archive = manager.post(f"/api/properties/{prop['id']}/archive", {"reason": f"sold{ZWSP}"}, format="json")
    assert "reason" in refused_fields(archive)


@pytest.mark.parametrize(
    ("amount", "stored"), [("1250.00", "1250.00"), ("1250.5", "1250.50"), (1250, "1250.00"), (0, "0.00")]
)
def test_rent_is_an_exact_decimal_string_or_an_integer(manager: APIClient, amount: Any, stored: str) -> None:
    prop = create(manager, rent={"amount": amount, "currency": "EUR"})
    assert prop["rent"] == {"amount": stored, "currency": "EUR"}


@pytest.mark.parametrize(
    "amount", [1250.5, 1250.0, "-0", "-0.00", -0.0, "1250.001", "1e3", " 12", "NaN", True, None, "-1"]
)
def test_rent_as_a_float_negative_zero_or_inexact_amount_is_refused(manager: APIClient, amount: Any) -> None:
    response = post_property(manager, rent={"amount": amount, "currency": "EUR"})
    assert "amount" in refused_fields(response)["rent"]
    prop = create(manager)
    patch = manager.patch(
        f"/api/properties/{prop['id']}", {"rent": {"amount": amount, "currency": "EUR"}}, format="json"
    )
    assert "amount" in refused_fields(patch)["rent"]
