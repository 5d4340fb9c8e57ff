"""``manage.py audit bundle`` on the real database, checked by tools/cosmo_verify.py as an auditor runs it.

The verifier runs in a separate ``python -S`` that can import only the standard library and
``cryptography``: no Django, no database, nothing of this repository. Each tampered copy of a
real bundle must make it exit 1; a checkpoint kept from before more writes must still pass.
"""

from __future__ import annotations

import base64
import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from django.core.management import CommandError, call_command

from api import audit_bundle
from api.event_json import EVENT_TOPICS, event_type
from domain.audit import AuditContext
from domain.image import ImageFile
from domain.service import PropertyChanges, PropertyService
from domain.values import PropertyKind
from infrastructure.composition import signing_key, transparency_log
from infrastructure.signed_note import SigningKey
from tests.conftest import quay_street, rent
from tests.integration.test_audit_chain import sql
from tests.verifier import TOOL, cryptography_only_path, isolated_python, line_values, load_tool

cv = load_tool()
PHOTO = ImageFile(sha256="cd" * 32, bytes=52_000, width=800, height=600, format="jpeg", filename="hall.jpg")


@dataclass(frozen=True)
class World:
    service: PropertyService
    property_id: UUID
    image_id: UUID
    other_id: UUID


@pytest.fixture
def world(service: PropertyService, alice: AuditContext) -> World:
    """Two properties, one with a photo, each changed: eight events, six of them the first's story."""
    home = service.register_property(
        name="Harbour View", kind=PropertyKind.APARTMENT, address=quay_street(), rent=rent()
    )
    other = service.register_property(
        name="Elsewhere", kind=PropertyKind.LAND, address=quay_street(), rent=rent()
    )
    image = service.add_image(home.id, PHOTO, caption="Hall")
    service.update_property(home.id, PropertyChanges(name="Harbour View \u00e9t\u00e9"), None)
    service.change_image_caption(image.id, "Hall, east side")
    service.update_property(other.id, PropertyChanges(name="Elsewhere II"), None)
    service.update_property(home.id, PropertyChanges(rent=rent("1300.50")), None)
    return World(service, home.id, image.id, other.id)


@pytest.fixture(scope="module")
def auditor_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cryptography_only_path(tmp_path_factory.mktemp("auditor") / "site")


def checkpoint() -> str:
    return transparency_log().make_checkpoint().text


def public_key() -> str:
    return transparency_log().verifier.vkey


def bundle(tmp_path: Path, *selection: str, name: str = "bundle.ndjson") -> Path:
    out = tmp_path / name
    call_command("audit", "bundle", "--out", str(out), *selection)
    return out


def read(bundle_file: Path) -> dict[str, Any]:
    """The bundle as a value to edit: its header line, and its event lines as a list."""
    header, *events = (json.loads(line) for line in bundle_file.read_bytes().split(b"\n")[:-1])
    return {"header": header, "events": events}


def write(bundle_file: Path, document: dict[str, Any]) -> None:
    lines = [document["header"], *document["events"]]
    bundle_file.write_bytes(b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n" for line in lines))


def offline(auditor_path: Path, bundle_file: Path, *extra: str, key: str | None = None) -> tuple[int, str]:
    """Exit status and output of the verifier run as the auditor runs it."""
    done = isolated_python(
        auditor_path,
        str(TOOL),
        str(bundle_file),
        "--public-key",
        key or public_key(),
        *extra,
        cwd=bundle_file.parent,
    )
    return done.returncode, done.stdout + done.stderr


def test_the_auditors_python_cannot_import_django_or_this_repository(
    auditor_path: Path, tmp_path: Path
) -> None:
    for module in ("django", "infrastructure", "api", "orjson"):
        done = isolated_python(auditor_path, "-c", f"import {module}", cwd=tmp_path)
        assert done.returncode == 1
        assert f"No module named '{module}'" in done.stderr
    done = isolated_python(auditor_path, "-c", "import cryptography", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_a_property_bundle_with_its_photos_events_verifies_offline(
    world: World, auditor_path: Path, tmp_path: Path
) -> None:
    checkpoint()
    out = bundle(tmp_path, "--property", str(world.property_id))
    status, output = offline(auditor_path, out)
    assert status == 0, output
    assert f"OK: 6 events (property {world.property_id})" in output
    document = read(out)
    assert document["header"]["events"] == 6
    assert document["header"]["selection"] == {"property_id": str(world.property_id)}
    shown = document["events"]
    assert {event["aggregate_id"] for event in shown} == {str(world.property_id), str(world.image_id)}
    assert [event["type"] for event in shown] == [
        "PropertyRegistered",
        "ImageAdded",
        "ImageAttached",
        "PropertyRenamed",
        "ImageCaptionChanged",
        "RentChanged",
    ]


def test_a_range_bundle_verifies_offline_and_fails_without_one_of_its_events(
    world: World, auditor_path: Path, tmp_path: Path
) -> None:
    checkpoint()
    out = bundle(tmp_path, "--from", "2", "--to", "6")
    status, output = offline(auditor_path, out)
    assert status == 0, output
    assert "OK: 5 events (positions 2..6)" in output
    lines = out.read_bytes().splitlines(keepends=True)
    assert len(lines) == 6
    assert all(line.endswith(b"}\n") and line.count(b"\n") == 1 for line in lines)
    out.write_bytes(b"".join(lines[:3] + lines[4:]))
    status, output = offline(auditor_path, out)
    assert status == 1
    assert "not exactly the selected positions" in output


def test_bundles_written_in_several_batches_verify(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 3 events, each with its proofs from one read of the tree: the batches join up."""
    monkeypatch.setattr(audit_bundle, "BATCH_SIZE", 3)
    checkpoint()
    for selection in (("--from", "2", "--to", "8"), ("--property", str(world.property_id))):
        with bundle(tmp_path, *selection).open("rb") as lines:
            report = cv.verify_bundle(lines, [public_key()])
        assert report.events == (7 if selection[0] == "--from" else 6)


def edit_payload(keep_hash: bool) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        event = document["events"][1]
        payload = base64.b64decode(event["payload"]).replace(b"Elsewhere", b"Elsewhera")
        event["payload"] = base64.b64encode(payload).decode()
        if not keep_hash:
            event["payload_sha256"] = cv.hashlib.sha256(payload).hexdigest()
            event["data"]["name"] = "Elsewhera"

    return change


def swap_proofs(document: dict[str, Any]) -> None:
    first, second = document["events"][0], document["events"][1]
    first["inclusion_proof"], second["inclusion_proof"] = second["inclusion_proof"], first["inclusion_proof"]


def edit_signature(document: dict[str, Any]) -> None:
    header = document["header"]
    body, _, signature = header["checkpoint"].partition("\n\n")
    flipped = "B" if signature[-4] != "B" else "C"
    header["checkpoint"] = f"{body}\n\n{signature[:-4]}{flipped}{signature[-3:]}"


def edit_checkpoint_time(document: dict[str, Any]) -> None:
    header = document["header"]
    header["checkpoint"] = header["checkpoint"].replace("\ntime 20", "\ntime 19")


def sign_with_another_key(document: dict[str, Any]) -> None:
    body, _, _ = document["header"]["checkpoint"].partition("\n\n")
    origin, size, root, time = body.split("\n")
    stranger = SigningKey.from_text(origin, SigningKey.generate_text())
    when = datetime.strptime(time.removeprefix("time "), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    document["header"]["checkpoint"] = stranger.sign(int(size), base64.b64decode(root), when).text


TAMPERED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "shown data": (
        lambda d: d["events"][0]["data"].update(name="Forged"),
        "event at position 1: the shown data",
    ),
    "shown metadata": (lambda d: d["events"][2]["metadata"].update(request_id="forged"), "shown metadata"),
    "shown name, sealed in the payload": (
        lambda d: d["events"][2]["metadata"].update(username="eve"),
        "shown actor",
    ),
    "shown timestamp": (lambda d: d["events"][3].update(timestamp="2020-01-01T00:00:00Z"), "shown timestamp"),
    "topic": (lambda d: d["events"][0].update(topic="cosmo.property.archived"), "shown type"),
    "topic and its names": (
        lambda d: d["events"][3].update(topic="cosmo.property.archived", type="PropertyArchived"),
        "inclusion proof",
    ),
    "payload, hash kept": (edit_payload(keep_hash=True), "payload_sha256"),
    "payload, hash and data redone": (edit_payload(keep_hash=False), "inclusion proof"),
    "inclusion proof": (
        lambda d: d["events"][4]["inclusion_proof"].__setitem__(0, "ab" * 32),
        "inclusion proof",
    ),
    "proofs swapped": (swap_proofs, "event at position 1: the inclusion proof"),
    "duplicated event line": (
        lambda d: d["events"].insert(1, d["events"][0]),
        "event at position 1: the events are not in strictly increasing position order",
    ),
    "reordered event lines": (
        lambda d: d["events"].reverse(),
        "event at position 8: the events are not exactly the selected positions: position 1 should come",
    ),
    "dropped event line": (
        lambda d: d["events"].pop(4),
        "event at position 6: the events are not exactly the selected positions: position 5 should come",
    ),
    "dropped last event line": (lambda d: d["events"].pop(), "the file ends after 7 of the 8 event lines"),
    "event count": (lambda d: d["header"].update(events=9), "announces 9 event lines for positions 1..8"),
    "checkpoint time": (edit_checkpoint_time, "signature does not verify"),
    "signature": (edit_signature, "signature"),
    "checkpoint signed by another key": (sign_with_another_key, "no signature by a trusted key"),
    "earlier checkpoint's proof": (lambda d: d["header"]["consistency"][0]["proof"].pop(), "not a prefix"),
}


@pytest.mark.parametrize("name", list(TAMPERED))
def test_each_tampered_bundle_fails_offline_naming_what(
    world: World, auditor_path: Path, tmp_path: Path, name: str
) -> None:
    checkpoint()
    world.service.update_property(world.other_id, PropertyChanges(name="Elsewhere III"), None)
    checkpoint()
    out = bundle(tmp_path, "--from", "1", "--to", "8")
    document = read(out)
    change, expected = TAMPERED[name]
    change(document)
    write(out, document)
    status, output = offline(auditor_path, out)
    assert status == 1, output
    assert output.startswith("FAILED: ")
    assert expected in output


def test_a_cut_file_fails_offline(world: World, auditor_path: Path, tmp_path: Path) -> None:
    checkpoint()
    out = bundle(tmp_path, "--from", "1", "--to", "8")
    raw = out.read_bytes()
    out.write_bytes(raw[: raw.rindex(b"\n", 0, -1) + 200])
    status, output = offline(auditor_path, out)
    assert status == 1, output
    assert "FAILED: line 9 does not end with a newline: the file was cut short" in output


def without_sealed_request_metadata(raw: bytes) -> bytes:
    """The bundle without the shown client address and user agent: stored sealed (docs/adr/0016),
    they are the only shown values the offline verifier cannot check (the name is shown twice)."""
    lines = [json.loads(line) for line in raw.split(b"\n")[:-1]]
    for event in lines[1:]:
        event["metadata"].pop("client_ip", None)
        event["metadata"].pop("user_agent", None)
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def test_one_edited_byte_anywhere_in_a_real_bundle_fails(world: World, tmp_path: Path) -> None:
    """Sampled offsets, checked in-process; only an edit leaving the same JSON value, or one
    inside a shown sealed value, may pass."""
    checkpoint()
    raw = bundle(tmp_path, "--property", str(world.property_id)).read_bytes()
    key = public_key()
    original = line_values(without_sealed_request_metadata(raw))
    offsets = random.Random(10).sample(range(len(raw)), min(len(raw), 1200))
    accepted_changes = []
    for offset in offsets:
        mutated = bytearray(raw)
        mutated[offset] ^= 0x04
        try:
            cv.verify_bundle(io.BytesIO(mutated), [key])
        except cv.VerificationFailed:
            continue
        if line_values(without_sealed_request_metadata(bytes(mutated))) != original:
            accepted_changes.append(offset)
    assert accepted_changes == []


def test_verifying_with_another_public_key_fails(world: World, auditor_path: Path, tmp_path: Path) -> None:
    checkpoint()
    out = bundle(tmp_path, "--from", "1", "--to", "3")
    stranger = SigningKey.from_text(transparency_log().origin, SigningKey.generate_text())
    status, output = offline(auditor_path, out, key=stranger.verifier.vkey)
    assert status == 1
    assert "carries no signature by a trusted key" in output


def test_a_checkpoint_kept_before_more_writes_passes_with_kept(
    world: World, auditor_path: Path, tmp_path: Path
) -> None:
    kept = tmp_path / "kept-last-quarter.txt"
    kept.write_text(checkpoint())
    world.service.update_property(world.property_id, PropertyChanges(name="Harbour View III"), None)
    world.service.update_property(world.other_id, PropertyChanges(name="Elsewhere III"), None)
    checkpoint()
    out = bundle(tmp_path, "--property", str(world.property_id))
    status, output = offline(auditor_path, out, "--kept", str(kept))
    assert status == 0, output
    assert "the kept checkpoint (tree size 8) is a prefix of it" in output


def test_a_witness_file_written_by_publish_passes_as_kept(
    world: World, auditor_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    witness = tmp_path / "witness.txt"
    call_command("audit", "checkpoint", "--publish", str(witness))
    world.service.update_property(world.property_id, PropertyChanges(name="Harbour View III"), None)
    call_command("audit", "checkpoint", "--publish", str(witness))
    capsys.readouterr()
    out = bundle(tmp_path, "--from", "1", "--to", "9")
    status, output = offline(auditor_path, out, "--kept", str(witness))
    assert status == 0, output
    assert "the kept checkpoint (tree size 8) is a prefix of it" in output
    assert "the kept checkpoint (tree size 9) is a prefix of it" in output


def test_a_kept_checkpoint_of_a_forked_log_fails(world: World, auditor_path: Path, tmp_path: Path) -> None:
    """The same key once signed another tree of that size: the log shown then is not this one."""
    honest = transparency_log().latest_checkpoint() or transparency_log().make_checkpoint()
    key = signing_key()
    assert key is not None
    forked = key.sign(honest.size, bytes(32), datetime.now(UTC)).text
    world.service.update_property(world.property_id, PropertyChanges(name="Harbour View III"), None)
    checkpoint()
    out = bundle(tmp_path, "--property", str(world.property_id))
    status, output = offline(auditor_path, out, "--kept", forked)
    assert status == 1
    assert "the log was rewritten" in output


def test_a_kept_checkpoint_from_before_a_cut_back_log_fails(
    world: World, auditor_path: Path, tmp_path: Path
) -> None:
    """The log shown now ends before a checkpoint the auditor kept: its later checkpoints were removed."""
    checkpoint()
    world.service.update_property(world.property_id, PropertyChanges(name="Harbour View III"), None)
    kept = checkpoint()
    sql("DELETE FROM {checkpoints} WHERE size = 9")
    out = bundle(tmp_path, "--from", "1", "--to", "8")
    status, output = offline(auditor_path, out, "--kept", kept)
    assert status == 1
    assert "no consistency proof from the kept checkpoint's tree size 9" in output


def test_bundle_refuses_what_no_checkpoint_covers(world: World, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"run `manage\.py audit checkpoint`"):
        bundle(tmp_path, "--property", str(world.property_id))
    checkpoint()
    world.service.update_property(world.property_id, PropertyChanges(name="Harbour View III"), None)
    with pytest.raises(CommandError, match=r"covers positions 1\.\.8, not 9"):
        bundle(tmp_path, "--from", "1", "--to", "9")
    with pytest.raises(CommandError, match="no property"):
        bundle(tmp_path, "--property", "00000000-0000-4000-8000-000000000000")
    with pytest.raises(CommandError, match="no property"):
        bundle(tmp_path, "--property", str(world.image_id))
    with pytest.raises(CommandError, match="cannot write"):
        bundle(tmp_path / "missing-directory", "--property", str(world.property_id))
    sql("DELETE FROM {merkle} WHERE seq >= 8")  # the nodes of leaves 6 to 9: a tree of 5 leaves is left
    with pytest.raises(CommandError, match="the log was cut back"):
        bundle(tmp_path, "--from", "1", "--to", "3")
    assert list(tmp_path.iterdir()) == []  # refused after the header was written: no cut file is left
    with pytest.raises(CommandError, match="--from needs --to"):
        bundle(tmp_path, "--from", "1")
    with pytest.raises(CommandError, match="1 <= from <= to"):
        bundle(tmp_path, "--from", "5", "--to", "4")


def test_a_property_bundle_leaves_out_events_after_the_checkpoint_and_says_so(
    world: World, auditor_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint()
    world.service.update_property(world.property_id, PropertyChanges(name="Harbour View III"), None)
    out = bundle(tmp_path, "--property", str(world.property_id))
    assert "1 later events are not covered by a checkpoint yet" in capsys.readouterr().err
    assert read(out)["header"]["events"] == len(read(out)["events"]) == 6
    assert offline(auditor_path, out)[0] == 0


def test_the_verifier_names_every_event_type_as_the_export_does() -> None:
    assert {topic: event_type(topic) for topic in EVENT_TOPICS.values()} == cv.TOPIC_NAMES


def edit_stored_payload(world: World) -> None:
    stored = world.service.recorder.select_notifications(start=2, limit=1)[0].state
    sql("UPDATE {events} SET state = %s WHERE {nid} = 2", bytes(stored).replace(b"Elsewhere", b"Elsewhera"))


def edit_stored_topic(world: World) -> None:
    sql("UPDATE {events} SET topic = 'cosmo.property.renamed' WHERE {nid} = 8")
    sql("UPDATE {chain} SET topic = 'cosmo.property.renamed' WHERE position = 8")


def swap_stored_events(world: World) -> None:
    sql("UPDATE {events} SET {nid} = 1000 WHERE {nid} = 4")
    sql("UPDATE {events} SET {nid} = 4 WHERE {nid} = 5")
    sql("UPDATE {events} SET {nid} = 5 WHERE {nid} = 1000")


DATABASE_EDITS: dict[str, tuple[Callable[[World], None], str]] = {
    "an edited payload": (edit_stored_payload, "event at position 2: the inclusion proof"),
    "an edited topic, in the events and the chain": (
        edit_stored_topic,
        "event at position 8: the inclusion proof",
    ),
    "a deleted event": (
        lambda _: sql("DELETE FROM {events} WHERE {nid} = 3"),
        "not exactly the selected positions",
    ),
    "two events swapped": (swap_stored_events, "event at position 4: the inclusion proof"),
}


@pytest.mark.parametrize("name", list(DATABASE_EDITS))
def test_a_database_edited_after_the_checkpoint_yields_a_bundle_that_fails_offline(
    world: World, auditor_path: Path, tmp_path: Path, name: str
) -> None:
    """Whoever edits the tables directly cannot make a bundle the verifier accepts."""
    checkpoint()
    edit, expected = DATABASE_EDITS[name]
    edit(world)
    out = bundle(tmp_path, "--from", "1", "--to", "8")
    status, output = offline(auditor_path, out)
    assert status == 1, output
    assert expected in output
