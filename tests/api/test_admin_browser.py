"""The admin in a real browser: headless Chromium (Debian's, through its chromidriver) against
``manage.py serve``, what ``make run`` starts, with its worker making the photos' variants.

It logs in through the form, opens a property with photos, checks that the thumbnails have loaded
and the history shows, and saves a screenshot (``COSMO_ADMIN_SCREENSHOT`` names where: the README's
``docs/admin-property.png`` is refreshed with ``make admin-screenshot``).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import urllib3
from django.db import connection
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from domain.service import PropertyService
from tests.api.conftest import NEW_PROPERTY, PASSWORD, make_user
from tests.api.test_http_server import call, token
from tests.conftest import ROOT
from tests.security.http import manage_py_serve

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="one browser run is enough: the SQLite suite's"),
]

PHOTOS = ROOT / "tests" / "fixtures" / "photos"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def chromium() -> Iterator[webdriver.Chrome]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("Debian's chromium and chromium-driver are needed: `make chromium` installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800"):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    browser.implicitly_wait(10)
    try:
        yield browser
    finally:
        browser.quit()


def upload(base: str, auth: dict[str, str], property_id: str, photo: str, caption: str) -> str:
    response = urllib3.request(
        "POST",
        f"{base}/api/properties/{property_id}/images",
        fields={"file": (photo, (PHOTOS / photo).read_bytes()), "caption": caption},
        headers=auth,
        timeout=30,
    )
    assert response.status == 202, response.data
    return str(response.json()["id"])


def wait_until_ready(base: str, auth: dict[str, str], property_id: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        _, _, gallery = call(base, "GET", f"/api/properties/{property_id}/images", **auth)
        statuses = [image["status"] for image in gallery["results"]]
        if statuses and all(status == "ready" for status in statuses):
            return
        assert "failed" not in statuses, gallery
        assert time.monotonic() < deadline, f"photos not processed in {seconds} s: {statuses}"
        time.sleep(0.3)


def loaded_images(browser: webdriver.Chrome, css: str, expected: int) -> list[Any]:
    """Waits until ``expected`` images match ``css`` and the browser has fetched and decoded each
    (a broken one never gets a natural width), then returns them."""

    def loaded(_: Any) -> Literal[False] | list[Any]:
        images = browser.find_elements(By.CSS_SELECTOR, css)
        decoded = [
            image
            for image in images
            if browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image)
        ]
        return decoded if len(decoded) == expected == len(images) else False

    found: list[Any] = WebDriverWait(browser, 15).until(loaded, f"{expected} loaded images at {css}")
    return found


def test_an_admin_logs_in_and_sees_a_property_with_its_photos_and_history(
    service: PropertyService, chromium: webdriver.Chrome, tmp_path: Path
) -> None:
    make_user("ops", organisation="cosmo", role="admin", hasher="pbkdf2_sha256")
    make_user("alice", hasher="pbkdf2_sha256")
    server = manage_py_serve(
        debug=False, COSMO_VAR_DIR=str(tmp_path), COSMO_IMAGE_WIDTHS="480,240", COSMO_IMAGE_TARGET_SSIM="0"
    )
    with server as base:
        auth = {"Authorization": f"Bearer {token(base, 'alice')}"}
        _, _, created = call(base, "POST", "/api/properties", NEW_PROPERTY, **auth)
        property_id = created["id"]
        call(base, "PATCH", f"/api/properties/{property_id}", {"name": "Harbour View Apartments"}, **auth)
        upload(base, auth, property_id, "rocket.jpg", "The quay at dusk")
        upload(base, auth, property_id, "coffee.png", "Breakfast corner")
        wait_until_ready(base, auth, property_id)

        chromium.get(f"{base}/admin/")
        chromium.find_element(By.NAME, "username").send_keys("ops")
        chromium.find_element(By.NAME, "password").send_keys(PASSWORD)
        chromium.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        chromium.find_element(By.LINK_TEXT, "Properties").click()
        loaded_images(chromium, "img.cosmo-thumbnail", expected=1)  # the cover's, on the list
        chromium.find_element(By.LINK_TEXT, "Harbour View Apartments").click()

        assert chromium.current_url.endswith(f"/admin/projections/propertylisting/{property_id}/change/")
        loaded_images(chromium, "figure.cosmo-photo img", expected=2)
        events = [row.text for row in chromium.find_elements(By.CSS_SELECTOR, "table.cosmo-history tbody tr")]
        assert events[0].split()[0] == "1", events  # the first position
        assert "PropertyRegistered" in events[0], events
        assert any(
            "PropertyRenamed" in row and "Harbour View Flats → Harbour View Apartments" in row
            for row in events
        )
        assert sum("ImageProcessed" in row for row in events) == 2
        screenshot = Path(os.environ.get("COSMO_ADMIN_SCREENSHOT") or tmp_path / "admin-property.png")
        assert chromium.save_screenshot(str(screenshot))
        assert screenshot.read_bytes().startswith(b"\x89PNG")
