"""Which recorded fields are personal data, in one place: what the store encrypts per data subject.

A personal field is stored encrypted under its subject's data key, so destroying that key
(crypto-shredding, ``erase-subject``) makes it unreadable everywhere at once while the event, its
position and the audit log's proofs stay intact. Request metadata (client address, user agent)
is also tied to the period it was recorded in, so that it expires after the retention period
(``prune_audit``) while the name stays readable until the person is erased.

Every field of every event must be classified here (personal, or named as not personal): a test
walks all event classes, so a new field cannot be recorded in clear by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.audit import AuditContext

# What reads, history, exports and read models show where shredded data was.
ERASED = "[erased]"


class Lifetime(StrEnum):
    """How long a personal field stays readable."""

    UNTIL_ERASED = "until_erased"  # the subject's key alone
    REQUEST_METADATA = "request_metadata"  # the subject's key and the recording period's key


@dataclass(frozen=True)
class PersonalField:
    name: str
    lifetime: Lifetime


@dataclass(frozen=True)
class PersonalRecord:
    """A value type that holds personal fields, and the field naming whose data they are."""

    subject_field: str
    personal: tuple[PersonalField, ...]
    # Fields of the record that stay in clear: pseudonymous, and needed by the audit log's leaf.
    in_clear: frozenset[str]


PERSONAL_RECORDS: dict[type, PersonalRecord] = {
    AuditContext: PersonalRecord(
        subject_field="actor_id",
        personal=(
            PersonalField("username", Lifetime.UNTIL_ERASED),
            PersonalField("client_ip", Lifetime.REQUEST_METADATA),
            PersonalField("user_agent", Lifetime.REQUEST_METADATA),
        ),
        in_clear=frozenset({"actor_id", "role", "organisation", "request_id", "causation_id"}),
    ),
}

# Event fields (besides a personal record) that hold no personal data: properties, photos and
# retention runs describe things, not people. A field missing from here and from
# PERSONAL_RECORDS fails the coverage test.
NOT_PERSONAL_EVENT_FIELDS = frozenset(
    {
        # every event
        "originator_id",
        "originator_version",
        "timestamp",
        "originator_topic",
        "audit",
        # properties
        "organisation",
        "name",
        "kind",
        "address",
        "rent",
        "status",
        "reason",
        "image_id",
        "image_ids",
        # photos
        "property_id",
        "file",
        "caption",
        "variants",
        "attempts",
        "original_bytes",
        "stored_bytes",
        "ratio",
        # retention runs and erasures
        "days",
        "cutoff",
        "dry_run",
        "sha256s",
        "bytes_freed",
        "unused_since",
        "periods",
        "expired_before",
        "subject_id",
        "ground",
        "unshreddable_events",
    }
)
