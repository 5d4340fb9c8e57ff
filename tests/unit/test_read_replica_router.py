"""Only a request's own choice sends read-model reads to the replica, and only for that request."""

from __future__ import annotations

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
