"""Every endpoint by method by role by organisation, generated from the URL configuration.

A new endpoint is covered as soon as it is routed: the matrix is built from ``api.urls``, and an
endpoint nobody classified (who may call it) fails ``test_every_endpoint_is_classified``. Each cell
sends a request that is valid in every other respect, so its status says only what the caller may
do: 401 for anonymous callers (except the public endpoints), 403 for a role that may not, 404 for
another organisation's resource, a success otherwise, and never a 500.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.permissions import SAFE_METHODS

from tests.security.endpoints import (
    ACCESS,
    ENDPOINTS,
    OTHER,
    OWN,
    PROBES,
    ROLES,
    Access,
    Endpoint,
    Probe,
    World,
    client_as,
)


def expected(endpoint: Endpoint, role: str, organisation: str) -> str:
    """``allowed`` or the refusal status the caller must get."""
    access = ACCESS[endpoint.name]
    if access is Access.PUBLIC:
        return "allowed"
    if role == "anonymous":
        return "401"
    if access is Access.AUDIT_TRAIL:
        return "allowed" if role in ("auditor", "admin") else "403"
    if access is Access.ADMIN:
        return "allowed" if role == "admin" else "403"
    if endpoint.method not in SAFE_METHODS and role == "auditor":
        return "403"
    if organisation == OTHER and role == "manager":
        return "404"
    return "allowed"


def outcome(status: int, probe: Probe) -> str:
    if 200 <= status < 300 or status == probe.succeeds_with:
        return "allowed"
    return str(status)


def test_every_endpoint_is_classified() -> None:
    unclassified = {endpoint.name for endpoint in ENDPOINTS} - set(ACCESS)
    assert not unclassified, f"say who may call {sorted(unclassified)} in ACCESS"
    unknown_methods = [endpoint for endpoint in ENDPOINTS if endpoint.method == "?"]
    assert not unknown_methods, f"say which methods {unknown_methods} answer in FUNCTION_VIEW_METHODS"
    writes_without_probe = [
        (e.name, e.method)
        for e in ENDPOINTS
        if e.method not in SAFE_METHODS and (e.name, e.method) not in PROBES
    ]
    assert not writes_without_probe, f"give {writes_without_probe} a valid request in PROBES"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.name}")
def test_each_role_gets_what_its_rights_say(endpoint: Endpoint, world: World) -> None:
    assert endpoint.name in ACCESS, f"say who may call {endpoint.name} in ACCESS"
    probe = PROBES.get((endpoint.name, endpoint.method), Probe())
    organisations = (OWN, OTHER) if endpoint.scoped else (OWN,)
    cells: dict[tuple[str, str], tuple[str, str]] = {}
    for role in ROLES:
        for organisation in organisations:
            target = (
                world.resources(organisation, probe.failed_photo)
                if probe.fresh
                else world.shared[organisation]
            )
            path = reverse(endpoint.name, kwargs=target.kwargs(endpoint.kwargs))
            send = getattr(client_as(world, role), endpoint.method.lower())
            response = send(path, probe.body(world, target), format=probe.format)
            assert response.status_code < 500, (role, organisation, response.content[:300])
            cells[role, organisation] = (
                expected(endpoint, role, organisation),
                outcome(response.status_code, probe),
            )
    wrong = {cell: got for cell, (want, got) in cells.items() if want != got}
    assert not wrong, f"{endpoint.method} {endpoint.name}: (role, organisation) -> (expected, got): {cells}"
