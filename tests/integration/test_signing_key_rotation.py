"""Rotating the checkpoint signing key on the real database, followed as an auditor follows it.

``audit rotate-signing-key`` signs a handover checkpoint with the current key and the new one;
the settings then name the new key and list the old verifier key. ``audit verify`` must accept the
checkpoints of both keys and no other, and tools/cosmo_verify.py (run as the auditor runs it, in a
Python that can import only ``cryptography``) must follow the handover from the old key alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings

from domain.audit import AuditContext
from domain.service import PropertyService
from infrastructure.composition import transparency_log
from infrastructure.event_store import StoredCheckpoint
from infrastructure.signed_note import Checkpoint, SigningKey
from tests.integration.test_audit_chain import record_five_events, verify_in_one_pass_and_in_spans
from tests.verifier import TOOL, cryptography_only_path, isolated_python


@dataclass(frozen=True)
class Rotation:
    old: str
    new: str
    handover: Checkpoint
    printed: str
    witness: Path


@pytest.fixture
def rotation(
    service: PropertyService,
    alice: AuditContext,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Rotation:
    """Five events under the old key's checkpoint, the handover at 10, five more under the new key."""
    record_five_events(service)
    old_log = transparency_log()
    old_log.make_checkpoint()
    record_five_events(service)
    new_key = SigningKey.generate_text()
    key_file = tmp_path / "new-signing-key"
    key_file.write_text(new_key)
    witness = tmp_path / "witness.txt"
    call_command("audit", "rotate-signing-key", "--new-key-file", str(key_file), "--publish", str(witness))
    printed = capsys.readouterr().out
    handover = old_log.latest_checkpoint()
    assert handover is not None
    settings.COSMO_AUDIT_SIGNING_KEY = new_key
    settings.COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS = (old_log.verifier.vkey,)
    record_five_events(service)
    new_log = transparency_log()
    new_log.make_checkpoint()
    return Rotation(old_log.verifier.vkey, new_log.verifier.vkey, handover, printed, witness)


def test_the_handover_names_the_new_key_and_both_keys_sign_it(rotation: Rotation) -> None:
    assert rotation.handover.size == 10
    assert rotation.handover.handover is not None
    assert rotation.handover.handover.vkey == rotation.new
    signatures = rotation.handover.text.split("\n\n")[1].splitlines()
    assert len(signatures) == 2
    assert all(line.startswith("\u2014 cosmo.local/audit ") for line in signatures)
    assert rotation.printed.startswith(rotation.handover.text)
    assert rotation.witness.read_text() == rotation.handover.text + "\n"
    assert f"COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS={rotation.old}\n" in rotation.printed


def test_after_a_rotation_verify_checks_the_checkpoints_of_both_keys(
    rotation: Rotation, capsys: pytest.CaptureFixture[str]
) -> None:
    log = transparency_log()
    result = verify_in_one_pass_and_in_spans(log.recorder, (), (), log.verifiers)
    assert result.ok, result.first_problem
    assert (result.tree_size, result.checkpoints_checked) == (15, 3)
    call_command("audit", "verify", "--workers", "1", "--checkpoint", rotation.handover.text)
    assert capsys.readouterr().out.startswith("OK: checked 15 events")


def test_without_the_previous_key_the_old_checkpoints_are_forged(
    rotation: Rotation, settings: Settings
) -> None:
    settings.COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS = ()
    with pytest.raises(CommandError, match=r"TAMPERED at position 5 \(forged_checkpoint\)"):
        call_command("audit", "verify", "--workers", "1")


def test_a_checkpoint_signed_by_an_unlisted_key_is_forged(rotation: Rotation) -> None:
    log = transparency_log()
    stranger = SigningKey.from_text(log.origin, SigningKey.generate_text())
    forged = stranger.sign(12, log.root(12), datetime.now(UTC))
    log.recorder.insert_checkpoint(StoredCheckpoint(12, "2026-12-02T00:00:00Z", forged.root, forged.text))
    result = verify_in_one_pass_and_in_spans(log.recorder, (), (), log.verifiers)
    assert result.first_problem is not None
    assert (result.first_problem.position, result.first_problem.kind) == (12, "forged_checkpoint")


def test_a_handover_to_the_current_key_a_retired_one_or_an_unreadable_one_is_refused(
    service: PropertyService, alice: AuditContext, settings: Settings, tmp_path: Path
) -> None:
    record_five_events(service)
    same = tmp_path / "same-key"
    same.write_text(settings.COSMO_AUDIT_SIGNING_KEY)
    with pytest.raises(CommandError, match="the new signing key is the current one"):
        call_command("audit", "rotate-signing-key", "--new-key-file", str(same))
    garbled = tmp_path / "garbled-key"
    garbled.write_text("not a key")
    with pytest.raises(CommandError, match="--new-key-file: unreadable audit signing key"):
        call_command("audit", "rotate-signing-key", "--new-key-file", str(garbled))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("audit", "rotate-signing-key", "--new-key-file", str(tmp_path / "nowhere"))
    retired = SigningKey.generate_text()
    settings.COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS = (
        SigningKey.from_text("cosmo.local/audit", retired).verifier.vkey,
    )
    same.write_text(retired)
    with pytest.raises(CommandError, match="the new key signed this log before"):
        call_command("audit", "rotate-signing-key", "--new-key-file", str(same))
    assert transparency_log().checkpoints() == []


def test_a_handover_in_the_second_of_a_checkpoint_of_the_same_tree_is_signed_again(
    service: PropertyService, alice: AuditContext
) -> None:
    """One row per size and second: a worker's checkpoint there first must not swallow the handover."""
    record_five_events(service)
    log = transparency_log()
    now = datetime.now(UTC).replace(microsecond=0)
    for second in (0, 1):
        taken = (now + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")
        log.recorder.insert_checkpoint(StoredCheckpoint(5, taken, log.root(5), "a worker's checkpoint"))
    handover = log.hand_over(SigningKey.from_text(log.origin, SigningKey.generate_text()))
    assert handover.time >= now + timedelta(seconds=2)
    assert [row.note for row in log.recorder.select_checkpoints(latest_only=True)] == [handover.text]


# --- Offline, as the auditor verifies a bundle spanning the rotation --------------------------


@pytest.fixture(scope="module")
def auditor_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cryptography_only_path(tmp_path_factory.mktemp("auditor") / "site")


def offline(auditor_path: Path, bundle_file: Path, *keys: str) -> tuple[int, str]:
    arguments = [argument for key in keys for argument in ("--key", key)]
    done = isolated_python(auditor_path, str(TOOL), str(bundle_file), *arguments, cwd=bundle_file.parent)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def spanning(rotation: Rotation, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A bundle of every event, proven against the new key's checkpoint after the handover."""
    out = tmp_path / "bundle.ndjson"
    call_command("audit", "bundle", "--from", "1", "--to", "15", "--out", str(out))
    capsys.readouterr()
    return out


def test_a_bundle_spanning_the_rotation_verifies_with_the_old_key_through_the_handover(
    rotation: Rotation, spanning: Path, auditor_path: Path
) -> None:
    status, output = offline(auditor_path, spanning, rotation.old)
    assert status == 0, output
    assert "OK: 15 events (positions 1..15)" in output
    new_hash = rotation.new.split("+")[1]
    assert f"key {new_hash} took over at tree size 10, handed over by a trusted key" in output


def test_with_the_new_key_alone_the_checkpoints_from_its_handover_on_are_checked(
    rotation: Rotation, spanning: Path, auditor_path: Path
) -> None:
    status, output = offline(auditor_path, spanning, rotation.new)
    assert status == 0, output
    assert "1 earlier checkpoints predate the handover to your key" in output
    status, output = offline(auditor_path, spanning, rotation.new, rotation.old)
    assert status == 0, output
    assert "predate" not in output


def test_a_bundle_whose_handover_is_missing_fails_with_the_old_key_alone(
    rotation: Rotation, spanning: Path, auditor_path: Path
) -> None:
    lines = spanning.read_bytes().split(b"\n")
    header = json.loads(lines[0])
    header["consistency"] = [
        item for item in header["consistency"] if item["checkpoint"] != rotation.handover.text
    ]
    assert len(header["consistency"]) == 1
    spanning.write_bytes(b"\n".join([json.dumps(header).encode(), *lines[1:]]))
    status, output = offline(auditor_path, spanning, rotation.old)
    assert status == 1
    assert "the bundle's checkpoint carries no signature by a trusted key" in output
