"""``POST /api/subjects/{username}/erasure``: admins erase a person; every other caller is refused."""

from __future__ import annotations

from collections.abc import Callable

from rest_framework.test import APIClient

from api.models import User
from domain.personal_data import ERASED
from tests.api.conftest import NEW_PROPERTY, create


def test_an_admin_erases_a_person_whose_events_then_read_erased(client_for: Callable[..., APIClient]) -> None:
    zelda = client_for("zelda")
    property_id = create(zelda, **NEW_PROPERTY)["id"]
    admin = client_for("root", "acme", "admin")
    zelda_id = User.objects.get(username="zelda").pk

    answer = admin.post("/api/subjects/zelda/erasure", {"ground": "GDPR art. 17 #5"}, format="json")

    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "subject_id": str(zelda_id),
        "position": 2,
        "keys_destroyed": 1,
        "unshreddable_events": 0,
    }
    [registered] = admin.get(f"/api/properties/{property_id}/history").json()["events"]
    assert registered["actor"] == {"id": str(zelda_id), "username": ERASED, "role": "manager"}
    assert (registered["metadata"]["client_ip"], registered["metadata"]["user_agent"]) == (ERASED, ERASED)
    erased = admin.get("/api/audit/events", {"type": "SubjectErased"}).json()["events"][0]
    assert erased["data"] == {
        "subject_id": str(zelda_id),
        "ground": "GDPR art. 17 #5",
        "unshreddable_events": 0,
    }
    assert erased["actor"]["username"] == "root"
    assert not User.objects.get(pk=zelda_id).is_active


def test_erasure_is_refused_to_non_admins_unknown_names_twice_and_without_ground(
    client_for: Callable[..., APIClient],
) -> None:
    client_for("zelda")
    admin = client_for("root", "acme", "admin")
    for role in ("manager", "auditor"):
        refused = client_for(f"a-{role}", "acme", role).post(
            "/api/subjects/zelda/erasure", {"ground": "x"}, format="json"
        )
        assert refused.status_code == 403, role
    assert admin.post("/api/subjects/zelda/erasure", {}, format="json").status_code == 400
    missing = admin.post("/api/subjects/nobody/erasure", {"ground": "x"}, format="json")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    zelda_id = User.objects.get(username="zelda").pk
    assert admin.post("/api/subjects/zelda/erasure", {"ground": "x"}, format="json").status_code == 200
    again = admin.post(f"/api/subjects/erased-{zelda_id}/erasure", {"ground": "x"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_erased"
