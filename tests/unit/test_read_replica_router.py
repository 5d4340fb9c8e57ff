"""Only a request's own choice sends read-model reads to the replica, and only for that request."""

from __future__ import annotations

import importlib

import pytest
from django.core.exceptions import ImproperlyConfigured

from api.models import User
from infrastructure.read_replica import REPLICA, ReadModelRouter, read_models_from, routing_for_request
from projections.models import PropertyListing

router = ReadModelRouter()


def test_read_models_are_read_where_the_request_chose_until_it_ends() -> None:
    assert router.db_for_read(PropertyListing) is None  # nothing chosen: the primary
    with routing_for_request():
        read_models_from(REPLICA)
        assert router.db_for_read(PropertyListing) == REPLICA
        assert router.db_for_read(User) is None
        assert router.db_for_write(PropertyListing) == "default"
    assert router.db_for_read(PropertyListing) is None


def test_a_request_starts_on_the_primary_whatever_the_last_one_chose() -> None:
    with routing_for_request():
        read_models_from(REPLICA)
        with routing_for_request():
            assert router.db_for_read(PropertyListing) is None


def test_nothing_is_migrated_on_the_replica() -> None:
    assert router.allow_migrate(REPLICA, "projections") is False
    assert router.allow_migrate("default", "projections") is None


def test_a_replica_is_configured_only_beside_a_postgresql_primary(monkeypatch: pytest.MonkeyPatch) -> None:
    import infrastructure.settings as live

    replica = "postgresql://reader@db-replica.internal:5432/cosmo"
    monkeypatch.setenv("DATABASE_REPLICA_URL", replica)
    try:
        monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/cosmo.sqlite3")
        with pytest.raises(ImproperlyConfigured, match="DATABASE_REPLICA_URL"):
            importlib.reload(live)
        monkeypatch.setenv("DATABASE_URL", "postgresql://writer@db-primary.internal:5432/cosmo")
        importlib.reload(live)
        assert live.DATABASES[REPLICA]["HOST"] == "db-replica.internal"
        assert live.DATABASES[REPLICA]["TEST"] == {"MIRROR": "default"}  # tests never create it
    finally:
        monkeypatch.undo()
        importlib.reload(live)
