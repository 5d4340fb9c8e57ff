"""Stored topics never change: they are in every stored event, its audit-chain link and its Merkle
leaf. Code outside the domain names them through the event classes; this pins what they resolve to."""

from __future__ import annotations

import inspect

from eventsourcing.utils import get_topic, resolve_topic

from domain.catalog import AGGREGATES, event_classes

STORED_TOPICS = {
    "PropertyRegistered": "cosmo.property.registered",
    "ImageAttached": "cosmo.property.image_attached",
    "ImageDetached": "cosmo.property.image_detached",
    "CoverImageSet": "cosmo.property.cover_image_set",
    "ImagesReordered": "cosmo.property.images_reordered",
    "PropertyRenamed": "cosmo.property.renamed",
    "AddressCorrected": "cosmo.property.address_corrected",
    "RentChanged": "cosmo.property.rent_changed",
    "PropertyArchived": "cosmo.property.archived",
    "ImageAdded": "cosmo.image.added",
    "ImageCaptionChanged": "cosmo.image.caption_changed",
    "ImageProcessed": "cosmo.image.processed",
    "ImageProcessingFailed": "cosmo.image.processing_failed",
    "ImageRetryRequested": "cosmo.image.retry_requested",
    "ImageRemoved": "cosmo.image.removed",
    "OriginalsPruned": "cosmo.retention.originals_pruned",
    "OrphanedBlobsRemoved": "cosmo.retention.orphaned_blobs_removed",
    "RequestMetadataExpired": "cosmo.retention.request_metadata_expired",
    "SubjectErased": "cosmo.erasure.subject_erased",
}


def test_every_event_class_keeps_its_stored_topic_byte_for_byte() -> None:
    topics = {cls.__name__: get_topic(cls) for aggregate in AGGREGATES for cls in event_classes(aggregate)}
    assert topics == STORED_TOPICS


def test_every_stored_topic_resolves_to_the_class_of_that_name() -> None:
    for name, topic in STORED_TOPICS.items():
        assert resolve_topic(topic).__name__ == name


def test_every_event_class_the_code_names_is_declared_for_the_type_checker() -> None:
    """The ``if TYPE_CHECKING`` declarations in the aggregates must list exactly the events the
    ``@event`` decorators make (an event class written out, such as the upcast
    ``PropertyRegistered``, needs none), or code naming an event would pass mypy and fail at import."""
    for aggregate in AGGREGATES:
        source = inspect.getsource(aggregate)
        declared = {
            line.split(":")[0].strip() for line in source.splitlines() if "ClassVar[type[Event]]" in line
        }
        made = {cls.__name__ for cls in event_classes(aggregate) if f"class {cls.__name__}(" not in source}
        assert declared == made, aggregate.__name__
