"""Offline audit bundles: events with the proofs an auditor checks on their own machine.

A bundle (format in docs/audit-bundle.md, checked by tools/cosmo_verify.py) holds the selected
events as the export shows them plus their stored payload, an inclusion proof for each against
the latest checkpoint, and consistency proofs from every earlier checkpoint to it. It proves
against a checkpoint already made (and published) rather than signing a new one, so what the
auditor checks is a tree head others may have witnessed too.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

from api.audit_stream import BATCH_SIZE, read_page
from api.event_json import EVENT_TOPICS, event_json
from api.views.history import property_story
from infrastructure.composition import transparency_log
from infrastructure.event_store import AuditEntry, AuditFilter
from infrastructure.merkle import payload_hash
from infrastructure.signed_note import Checkpoint
from infrastructure.transparency_log import OutOfRange, TransparencyLog

FORMAT = "cosmo-audit-bundle/1"


class BundleRefused(Exception):
    """The selection cannot be bundled as asked; the message says what to do instead."""


@dataclass(frozen=True)
class Bundle:
    document: dict[str, Any]
    checkpoint: Checkpoint
    left_out: int

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.document, option=orjson.OPT_INDENT_2) + b"\n"


def _checkpoints(log: TransparencyLog) -> tuple[Checkpoint, list[Checkpoint]]:
    """The latest checkpoint and every earlier one, read together so a new one cannot slip between."""
    made = log.checkpoints()
    if not made or made[-1].size == 0:
        raise BundleRefused(
            "no checkpoint covers any event yet: run `manage.py audit checkpoint` "
            "(or let the workers make one)"
        )
    return made[-1], made[:-1]


def _bundle(
    log: TransparencyLog,
    checkpoints: tuple[Checkpoint, list[Checkpoint]],
    selection: dict[str, Any],
    entries: list[AuditEntry],
) -> dict[str, Any]:
    checkpoint, earlier = checkpoints
    try:
        return _document(log, checkpoint, earlier, selection, entries)
    except OutOfRange:
        raise BundleRefused(
            f"the latest checkpoint signs a tree of {checkpoint.size} leaves and the stored tree no longer "
            "has them: the log was cut back; run `manage.py audit verify`"
        ) from None


def _document(
    log: TransparencyLog,
    checkpoint: Checkpoint,
    earlier: list[Checkpoint],
    selection: dict[str, Any],
    entries: list[AuditEntry],
) -> dict[str, Any]:
    events = []
    for entry in entries:
        state = bytes(entry.event.state)
        proof = log.inclusion_proof(entry.link.position - 1, checkpoint.size)
        events.append(
            {
                **event_json(entry),
                "topic": entry.event.topic,
                "payload_sha256": payload_hash(state),
                "payload": base64.b64encode(state).decode("ascii"),
                "inclusion_proof": [node.hex() for node in proof],
            }
        )
    return {
        "format": FORMAT,
        "selection": selection,
        "checkpoint": checkpoint.text,
        "events": events,
        "consistency": [
            {
                "checkpoint": made.text,
                "proof": [node.hex() for node in log.consistency_proof(made.size, checkpoint.size)],
            }
            for made in earlier
        ],
    }


def range_bundle(first: int, last: int) -> Bundle:
    """Every event from position ``first`` to ``last``: the verifier checks none is missing."""
    if not 1 <= first <= last:
        raise BundleRefused("--from and --to must be positions with 1 <= from <= to")
    log = transparency_log()
    checkpoints = _checkpoints(log)
    checkpoint = checkpoints[0]
    if last > checkpoint.size:
        raise BundleRefused(
            f"the latest checkpoint covers positions 1..{checkpoint.size}, not {last}: "
            "run `manage.py audit checkpoint` first, or choose a smaller --to"
        )
    entries = _entries_between(first, last)
    return Bundle(_bundle(log, checkpoints, {"from": first, "to": last}, entries), checkpoint, 0)


def _entries_between(first: int, last: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    after = first - 1
    while after < last and (page := read_page(after, min(BATCH_SIZE, last - after), AuditFilter())):
        entries.extend(entry for entry in page if entry.link.position <= last)
        after = page[-1].link.position
    return entries


def property_bundle(property_id: UUID) -> Bundle:
    """The property's story (its events and its photos', as its history shows) up to the checkpoint.

    Events recorded after the latest checkpoint cannot be proven yet: they are left out and counted.
    """
    log = transparency_log()
    checkpoints = _checkpoints(log)
    checkpoint = checkpoints[0]
    story = property_story(property_id)
    if not story or story[0].event.topic != EVENT_TOPICS["PropertyRegistered"]:
        raise BundleRefused(f"no property {property_id} has been recorded")
    covered = [entry for entry in story if entry.link.position <= checkpoint.size]
    if not covered:
        raise BundleRefused(
            f"the latest checkpoint (tree size {checkpoint.size}) covers none of the property's events: "
            "run `manage.py audit checkpoint` first"
        )
    document = _bundle(log, checkpoints, {"property_id": str(property_id)}, covered)
    return Bundle(document, checkpoint, len(story) - len(covered))
