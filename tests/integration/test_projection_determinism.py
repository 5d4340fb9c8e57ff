"""For random histories, the incrementally maintained read models equal a full rebuild, row by row."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.audit import acting_as
from domain.errors import DomainError
from domain.service import PropertyChanges, PropertyService
from domain.values import PropertyKind, Rent
from projections.models import ProjectionState, ProjectionTracking
from projections.registry import all_projections
from projections.runner import catch_up, rebuild
from tests.conftest import context_for, quay_street, wipe_event_store

ORGANISATIONS = ["acme", "globex", "initech"]

commands = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.sampled_from(ORGANISATIONS), st.sampled_from(list(PropertyKind))),
        st.tuples(st.just("rename"), st.integers(0, 20), st.text(min_size=1, max_size=30)),
        st.tuples(st.just("move"), st.integers(0, 20), st.sampled_from(["Lisbon", "Porto", "Faro"])),
        st.tuples(st.just("rent"), st.integers(0, 20), st.none() | st.integers(0, 500_000)),
        st.tuples(st.just("archive"), st.integers(0, 20), st.text(max_size=10)),
        st.tuples(st.just("catch_up"), st.integers(1, 7), st.just(None)),
    ),
    min_size=1,
    max_size=40,
)


def reset_read_models() -> None:
    wipe_event_store()
    for projection in all_projections():
        for model in projection.models:
            model._default_manager.all().delete()
    ProjectionTracking.objects.all().delete()
    ProjectionState.objects.all().delete()


def changes_for(action: str, value: Any) -> PropertyChanges:
    if action == "rename":
        return PropertyChanges(name=str(value))
    if action == "move":
        return PropertyChanges(address=replace(quay_street(), city=str(value)))
    return PropertyChanges(rent=None if value is None else Rent(Decimal(value).scaleb(-2), "EUR"))


def run(service: PropertyService, history: list[tuple[str, Any, Any]]) -> None:
    properties: list[tuple[str, Any]] = []
    for action, first, second in history:
        if action == "catch_up":
            for projection in all_projections():
                catch_up(projection, service, batch_size=first)
            continue
        if action == "register":
            with acting_as(context_for("writer", str(first))):
                receipt = service.register_property(name="New", kind=second, address=quay_street())
            properties.append((str(first), receipt.id))
            continue
        if not properties:
            continue
        organisation, property_id = properties[first % len(properties)]
        with acting_as(context_for("writer", organisation)):
            try:
                if action == "archive":
                    service.archive_property(property_id, None, str(second))
                else:
                    service.update_property(property_id, changes_for(action, second), None)
            except DomainError:
                pass  # refused commands (archived, blank names) are part of real histories too


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=commands)
def test_incremental_read_models_equal_a_full_rebuild(
    service: PropertyService, history: list[tuple[str, Any, Any]]
) -> None:
    reset_read_models()
    run(service, history)
    for projection in all_projections():
        catch_up(projection, service, batch_size=3)
    for projection in all_projections():
        report = rebuild(projection, service, check=True, batch_size=5)
        assert report.drift == [], (projection.name, report.drift)
