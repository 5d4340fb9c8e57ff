"""A client generated from the live schema by openapi-python-client runs the README's flow.

The generated models parse every answer (no raw HTTP here): a schema that disagrees with what
the server sends makes this test fail, as it would fail a mobile app built from the schema.
"""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rest_framework.test import APIClient

from domain.service import PropertyService
from tests.api.conftest import PASSWORD, make_user
from tests.conftest import ROOT

PACKAGE = "cosmo_generated_client"
PHOTO = ROOT / "tests" / "fixtures" / "photos" / "rocket.jpg"
GENERATOR_CONFIG = {
    "package_name_override": PACKAGE,
    "project_name_override": PACKAGE,
    # NDJSON is text to a client; no formatter run, so the test needs nothing but the generator.
    "content_type_overrides": {"application/x-ndjson": "text/plain"},
    "post_hooks": [],
}


@pytest.fixture
def generated(service: PropertyService, tmp_path: Path) -> Iterator[Any]:
    """The client package, generated from /api/schema into a temporary directory and imported."""
    schema = APIClient().get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    (tmp_path / "schema.json").write_text(json.dumps(schema.json()))
    (tmp_path / "config.json").write_text(json.dumps(GENERATOR_CONFIG))
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "openapi-python-client"),
            "generate",
            "--path",
            "schema.json",
            "--config",
            "config.json",
            "--meta",
            "none",
            "--output-path",
            PACKAGE,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout, result.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def module(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


@pytest.mark.http_server
def test_a_generated_client_runs_the_readme_flow(live_server: Any, generated: ModuleType) -> None:
    make_user("alice")
    models = module(generated, "models")
    types = module(generated, "types")
    api = "api.{}".format
    login = module(generated, api("auth.login"))
    register = module(generated, api("properties.register_property"))
    list_properties = module(generated, api("properties.list_properties"))
    get_property = module(generated, api("properties.get_property"))
    update_property = module(generated, api("properties.update_property"))
    upload_image = module(generated, api("images.upload_image"))
    history = module(generated, api("history.get_property_history"))

    anonymous = generated.Client(base_url=live_server.url, raise_on_unexpected_status=True)
    tokens = login.sync(client=anonymous, body=models.LoginRequest(username="alice", password=PASSWORD))
    assert isinstance(tokens, models.Tokens)
    client = generated.AuthenticatedClient(
        base_url=live_server.url, token=tokens.access, raise_on_unexpected_status=True
    )

    created = register.sync_detailed(
        client=client,
        idempotency_key="readme-register-1",
        body=models.PropertyCreateRequest(
            name="Harbour View Flats",
            kind=models.KindEnum.APARTMENT,
            address=models.AddressRequest(
                street="1 Quay St", city="Lisbon", postal_code="1100-001", country="PT"
            ),
            rent=models.RentRequest(amount="1250.00", currency="EUR"),
        ),
    )
    assert (created.status_code, created.headers["ETag"]) == (201, '"1"')
    prop = created.parsed
    assert isinstance(prop, models.Property)
    assert prop.version == 1

    page = list_properties.sync(client=client, page=1, page_size=10, city="lisbon")
    assert isinstance(page, models.PaginatedPropertyList)
    assert (page.count, [p.id for p in page.results]) == (1, [prop.id])

    read = get_property.sync_detailed(prop.id, client=client)
    assert isinstance(read.parsed, models.Property)
    changed = update_property.sync_detailed(
        prop.id,
        client=client,
        if_match=read.headers["ETag"],
        body=models.PropertyUpdateRequest(
            name="Harbour View Apartments", rent=models.RentRequest(amount="1300.00", currency="EUR")
        ),
    )
    assert isinstance(changed.parsed, models.Property)
    assert (changed.parsed.version, changed.headers["ETag"]) == (3, '"3"')

    photo = types.File(payload=io.BytesIO(PHOTO.read_bytes()), file_name=PHOTO.name, mime_type="image/jpeg")
    uploaded = upload_image.sync_detailed(
        prop.id, client=client, body=models.ImageUploadRequest(file=photo, caption="From the quay")
    )
    assert uploaded.status_code == 202
    assert isinstance(uploaded.parsed, models.Image)
    assert uploaded.parsed.caption == "From the quay"

    # The photo moved the property's version: the ETag a GET shows is what If-Match needs.
    read = get_property.sync_detailed(prop.id, client=client)
    renamed = update_property.sync(
        prop.id,
        client=client,
        if_match=read.headers["ETag"],
        body=models.PropertyUpdateRequest(name="Harbour View"),
    )
    assert isinstance(renamed, models.Property)
    assert renamed.name == "Harbour View"

    story = history.sync(prop.id, client=client)
    assert isinstance(story, models.History)
    types = [event.type_ for event in story.events]  # "type" is type_ in generated Python
    assert types[:3] == ["PropertyRegistered", "PropertyRenamed", "RentChanged"]
    assert types.count("PropertyRenamed") == 2
