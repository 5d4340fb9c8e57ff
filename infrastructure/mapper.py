"""The library's mapper, refusing events whose stored form exceeds ``COSMO_MAX_EVENT_BYTES``.

The check runs when an event is turned into bytes, before anything is written, so a refused
command leaves no trace in the store.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Cipher, Compressor, Mapper, StoredEvent, Transcoder

from domain.errors import EventTooLarge

MAX_EVENT_BYTES = "MAX_EVENT_BYTES"


class SizeLimitedMapper(Mapper[UUID]):
    def __init__(
        self,
        transcoder: Transcoder,
        max_event_bytes: int,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        super().__init__(transcoder, compressor=compressor, cipher=cipher)
        self.max_event_bytes = max_event_bytes

    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        stored = super().to_stored_event(domain_event)
        if len(stored.state) > self.max_event_bytes:
            raise EventTooLarge(
                f"{type(domain_event).__name__} would take {len(stored.state)} bytes; "
                f"the limit is {self.max_event_bytes}"
            )
        return stored
