"""A writer process for test_writer_processes: importable without Django, as a spawned child needs."""

from __future__ import annotations

from decimal import Decimal
from multiprocessing.synchronize import Barrier
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.audit import AuditContext, Role, acting_as
from domain.service import PropertyChanges, PropertyService
from domain.values import Address, PropertyKind, Rent

WRITER = AuditContext(
    actor_id="id-writer",
    username="writer",
    role=Role.MANAGER,
    organisation="acme",
    request_id="req-writer",
    client_ip="203.0.113.7",
    user_agent="pytest",
)
ADDRESS = Address(street="1 Quay St", city="Lisbon", postal_code="1100-001", country="PT")


def write(env: dict[str, str], shared: str, writer: int, rounds: int, start: Barrier, results: Any) -> None:
    """Each round: register a property, change the shared one, then save a stale copy of it.

    Rents and names are unique to the writer and round: a change to what another writer just set
    would record nothing, and the stale save after it would then rightly succeed."""
    service = PropertyService(env=env)
    registered = changed = refused = 0
    try:
        with acting_as(WRITER):
            start.wait(timeout=60)
            for n in range(rounds):
                rent = Rent(amount=Decimal(1000 * (writer + 1) + n), currency="EUR")
                service.register_property(
                    name=f"Flat {n}", kind=PropertyKind.APARTMENT, address=ADDRESS, rent=rent
                )
                registered += 1
                stale = service.get_property(UUID(shared))
                service.update_property(UUID(shared), PropertyChanges(rent=rent), None)
                changed += 1
                stale.rename(f"Lost update {writer}.{n}")
                try:
                    service.save(stale)
                except IntegrityError:
                    refused += 1
    finally:
        service.close()
        results.put((registered, changed, refused))
