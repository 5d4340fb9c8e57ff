"""Random histories with random erasures: the incrementally maintained read models (which blank
an erased name when ``SubjectErased`` arrives) equal a rebuild (which reads it erased already)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.erasure import erase_subject
from api.models import User
from domain.audit import AuditContext, Role, acting_as
from domain.service import PropertyChanges, PropertyService
from domain.values import PropertyKind
from projections.models import AuditTimelineEntry
from projections.registry import all_projections
from projections.runner import catch_up
from tests.api.conftest import make_user
from tests.conftest import quay_street
from tests.integration.test_projection_determinism import assert_incremental_equals_rebuild, reset_read_models

WRITERS = 3
ADMIN = AuditContext("admin-1", "root", Role.ADMIN, "acme", "req-erase")

actions = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.integers(0, WRITERS - 1), st.integers(0, 9)),
        st.tuples(st.just("rename"), st.integers(0, WRITERS - 1), st.integers(0, 9)),
        st.tuples(st.just("erase"), st.integers(0, WRITERS - 1), st.integers(0, 9)),
        st.tuples(st.just("catch_up"), st.integers(1, 5), st.integers(0, 9)),
    ),
    min_size=1,
    max_size=25,
)


def writer(user: User) -> AuditContext:
    return AuditContext(str(user.pk), user.username, Role.MANAGER, "acme", "req", "", "192.0.2.9", "agent/1")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=actions)
def test_incremental_read_models_with_erasures_equal_a_full_rebuild(
    service: PropertyService, history: list[tuple[str, int, int]]
) -> None:
    reset_read_models()
    User.objects.all().delete()
    users = [make_user(f"writer-{n}") for n in range(WRITERS)]
    erased: set[int] = set()
    properties: list[Any] = []
    for action, first, second in history:
        if action == "catch_up":
            for projection in all_projections():
                catch_up(projection, service, batch_size=first)
        elif action == "erase" and first not in erased:
            erase_subject(users[first].username, "test", ADMIN)
            erased.add(first)
        elif action == "register" and first not in erased:
            with acting_as(writer(users[first])):
                properties.append(
                    service.register_property(
                        name=f"P{second}", kind=PropertyKind.HOUSE, address=quay_street()
                    ).id
                )
        elif action == "rename" and first not in erased and properties:
            with acting_as(writer(users[first])):
                service.update_property(
                    properties[second % len(properties)], PropertyChanges(name=f"N{second}"), None
                )
    assert_incremental_equals_rebuild(service)
    names = set(AuditTimelineEntry.objects.values_list("actor_username", flat=True))
    assert not names & {f"writer-{n}" for n in erased}
