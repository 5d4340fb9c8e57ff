from __future__ import annotations

import pytest

from domain.service import PropertyService
from infrastructure.persistence import TRANSCODER_TOPIC


@pytest.fixture
def memory_service() -> PropertyService:
    """The real application service on the library's in-memory recorder and our transcoder."""
    return PropertyService(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo", "TRANSCODER_TOPIC": TRANSCODER_TOPIC}
    )
