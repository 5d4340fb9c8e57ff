"""Offline audit bundles: events with the proofs an auditor checks on their own machine.

A bundle (format in docs/audit-bundle.md, checked by tools/cosmo_verify.py) is NDJSON: a header
line (the selection, the latest checkpoint, consistency proofs from every earlier checkpoint to it,
and how many event lines follow), then one line per selected event as the export shows it plus its
stored payload and an inclusion proof. Everything in the header is known before the first event is
read, so the writer streams a range of any length a batch at a time, and the verifier checks each
line as it reads it. A bundle proves against a checkpoint already made (and published) rather
than signing a new one, so what the auditor checks is a tree head others may have witnessed too.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.utils import get_topic

from api.audit_stream import BATCH_SIZE, read_page
from api.event_json import event_json, store_transcoder
from api.views.history import property_story
from domain.property import Property
from domain.service import PropertyService
from infrastructure.event_store import AuditEntry, AuditFilter
from infrastructure.merkle import payload_hash
from infrastructure.signed_note import Checkpoint
from infrastructure.transcoder import OrjsonTranscoder
from infrastructure.transparency_log import OutOfRange, TransparencyLog

FORMAT = "cosmo-audit-bundle/2"


class BundleRefused(Exception):
    """The selection cannot be bundled as asked; the message says what to do instead."""


@dataclass(frozen=True)
class Bundle:
    """A bundle ready to write: its header is read, its event lines are made as they are written."""

    log: TransparencyLog
    transcoder: OrjsonTranscoder
    checkpoint: Checkpoint
    header: dict[str, Any]
    batches: Iterable[list[AuditEntry]]
    left_out: int

    def lines(self) -> Iterator[bytes]:
        """The file, line by line: one batch of events in memory at a time."""
        yield orjson.dumps(self.header) + b"\n"
        for batch in self.batches:
            with _refused_if_cut_back(self.checkpoint):
                proofs = self.log.inclusion_proofs([e.link.position - 1 for e in batch], self.checkpoint.size)
            for entry, proof in zip(batch, proofs, strict=True):
                yield orjson.dumps(_event_line(entry, proof, self.transcoder)) + b"\n"


def _event_line(entry: AuditEntry, proof: list[bytes], transcoder: OrjsonTranscoder) -> dict[str, Any]:
    state = bytes(entry.event.state)
    return {
        **event_json(entry, transcoder),
        "topic": entry.event.topic,
        "payload_sha256": payload_hash(state),
        "payload": base64.b64encode(state).decode("ascii"),
        "inclusion_proof": [node.hex() for node in proof],
    }


@contextmanager
def _refused_if_cut_back(checkpoint: Checkpoint) -> Iterator[None]:
    """The tree's ``OutOfRange`` told as what it means for a bundle: the log was cut back."""
    try:
        yield
    except OutOfRange:
        raise BundleRefused(
            f"the latest checkpoint signs a tree of {checkpoint.size} leaves and the stored tree no longer "
            "has them: the log was cut back; run `manage.py audit verify`"
        ) from None


def _checkpoints(log: TransparencyLog) -> tuple[Checkpoint, list[Checkpoint]]:
    """The latest checkpoint and every earlier one, read together so a new one cannot slip between."""
    made = log.checkpoints()
    if not made or made[-1].size == 0:
        raise BundleRefused(
            "no checkpoint covers any event yet: run `manage.py audit checkpoint` "
            "(or let the workers make one)"
        )
    return made[-1], made[:-1]


def _consistency(
    log: TransparencyLog, checkpoint: Checkpoint, earlier: list[Checkpoint]
) -> list[dict[str, Any]]:
    return [
        {
            "checkpoint": made.text,
            "proof": [node.hex() for node in log.consistency_proof(made.size, checkpoint.size)],
        }
        for made in earlier
    ]


def _bundle(
    service: PropertyService,
    log: TransparencyLog,
    checkpoints: tuple[Checkpoint, list[Checkpoint]],
    selection: dict[str, Any],
    events: int,
    batches: Iterable[list[AuditEntry]],
    left_out: int = 0,
) -> Bundle:
    checkpoint, earlier = checkpoints
    with _refused_if_cut_back(checkpoint):
        consistency = _consistency(log, checkpoint, earlier)
    header = {
        "format": FORMAT,
        "selection": selection,
        "checkpoint": checkpoint.text,
        "consistency": consistency,
        "events": events,
    }
    return Bundle(log, store_transcoder(service), checkpoint, header, batches, left_out)


def range_bundle(service: PropertyService, log: TransparencyLog, first: int, last: int) -> Bundle:
    """Every event from position ``first`` to ``last``: the verifier checks none is missing.

    The header announces ``last - first + 1`` events, as many as the selection names; a log that
    lost one of them yields fewer lines, and the verifier names the position that is not there.
    """
    if not 1 <= first <= last:
        raise BundleRefused("--from and --to must be positions with 1 <= from <= to")
    checkpoints = _checkpoints(log)
    checkpoint = checkpoints[0]
    if last > checkpoint.size:
        raise BundleRefused(
            f"the latest checkpoint covers positions 1..{checkpoint.size}, not {last}: "
            "run `manage.py audit checkpoint` first, or choose a smaller --to"
        )
    selection = {"from": first, "to": last}
    events = _pages_between(service, first, last)
    return _bundle(service, log, checkpoints, selection, last - first + 1, events)


def _pages_between(service: PropertyService, first: int, last: int) -> Iterator[list[AuditEntry]]:
    after = first - 1
    while after < last and (page := read_page(service, after, min(BATCH_SIZE, last - after), AuditFilter())):
        yield [entry for entry in page if entry.link.position <= last]
        after = page[-1].link.position


def property_bundle(service: PropertyService, log: TransparencyLog, property_id: UUID) -> Bundle:
    """The property's story (its events and its photos', as its history shows) up to the checkpoint.

    Events recorded after the latest checkpoint cannot be proven yet: they are left out and counted.
    """
    checkpoints = _checkpoints(log)
    checkpoint = checkpoints[0]
    story = property_story(service, property_id)
    if not story or story[0].event.topic != get_topic(Property.PropertyRegistered):
        raise BundleRefused(f"no property {property_id} has been recorded")
    covered = [entry for entry in story if entry.link.position <= checkpoint.size]
    if not covered:
        raise BundleRefused(
            f"the latest checkpoint (tree size {checkpoint.size}) covers none of the property's events: "
            "run `manage.py audit checkpoint` first"
        )
    batches = [covered[start : start + BATCH_SIZE] for start in range(0, len(covered), BATCH_SIZE)]
    selection = {"property_id": str(property_id)}
    return _bundle(service, log, checkpoints, selection, len(covered), batches, len(story) - len(covered))
