"""GET /api/audit/verify: the tamper-evidence check over HTTP, on the real SQLite file or PostgreSQL table."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from domain.audit import AuditContext
from domain.service import PropertyService
from infrastructure import audit_trail
from infrastructure.audit_chain import GENESIS_DIGEST
from infrastructure.composition import audit_key, transparency_log
from tests.integration.test_audit_chain import record_five_events, sql


def verify(client: APIClient) -> dict[str, Any]:
    response = client.get("/api/audit/verify")
    assert response.status_code == 200, response.content
    return dict(response.json())


@pytest.fixture
def auditor(client_for: Callable[..., APIClient]) -> APIClient:
    return client_for("ann", "audit-firm", "auditor")


def test_an_empty_store_verifies_clean(auditor: APIClient) -> None:
    assert verify(auditor) == {
        "ok": True,
        "checked": 0,
        "head": {"position": 0, "digest": GENESIS_DIGEST},
        "seals_checked": 0,
        "tree": {"size": 0, "root": base64.b64encode(hashlib.sha256(b"").digest()).decode()},
        "checkpoints_checked": 0,
        "first_problem": None,
    }


def test_an_untouched_store_verifies_clean_up_to_its_head(
    auditor: APIClient, service: PropertyService, alice: AuditContext
) -> None:
    record_five_events(service)
    audit_trail.seal(service.recorder, audit_key())
    checkpoint = transparency_log().make_checkpoint()
    head = audit_trail.chained(service.recorder).select_head()
    assert head is not None
    assert verify(auditor) == {
        "ok": True,
        "checked": 5,
        "head": {"position": 5, "digest": head.digest},
        "seals_checked": 1,
        "tree": {"size": 5, "root": base64.b64encode(checkpoint.root).decode()},
        "checkpoints_checked": 1,
        "first_problem": None,
    }


def test_a_row_edited_with_sql_is_reported_at_its_position(
    auditor: APIClient, service: PropertyService, alice: AuditContext
) -> None:
    record_five_events(service)
    sql("UPDATE {events} SET state = %s WHERE {nid} = 3", b'{"name":"Forged"}')
    result = verify(auditor)
    assert (result["ok"], result["checked"], result["head"]["position"]) == (False, 2, 2)
    assert result["first_problem"] == {
        "position": 3,
        "kind": "digest_mismatch",
        "detail": "event #3 differs from what was recorded",
    }
