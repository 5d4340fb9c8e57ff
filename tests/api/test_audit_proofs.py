"""The transparency-log endpoints, checked the way an auditor would: with the public key alone."""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from domain.audit import AuditContext
from domain.service import PropertyService
from infrastructure.composition import transparency_log
from infrastructure.merkle import verify_consistency, verify_inclusion
from infrastructure.signed_note import SigningKey, VerifierKey
from tests.conftest import ROOT, process_env
from tests.integration.test_audit_chain import record_five_events


@pytest.fixture
def auditor(client_for: Callable[..., APIClient]) -> APIClient:
    return client_for("ann", "audit-firm", "auditor")


def get(client: APIClient, path: str, status: int = 200) -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    return dict(response.json())


def unb64(values: list[str]) -> list[bytes]:
    return [base64.b64decode(value) for value in values]


def test_an_auditor_proves_every_event_and_the_log_growing_with_the_public_key_alone(
    auditor: APIClient, service: PropertyService, alice: AuditContext
) -> None:
    assert get(auditor, "/api/audit/checkpoint", 404)["error"]["code"] == "no_checkpoint"
    key = VerifierKey.parse(get(auditor, "/api/audit/public-key")["key"])
    record_five_events(service)
    transparency_log().make_checkpoint()
    kept = key.open(get(auditor, "/api/audit/checkpoint")["note"])
    record_five_events(service)
    transparency_log().make_checkpoint()
    latest = get(auditor, "/api/audit/checkpoint")
    checkpoint = key.open(latest["note"])
    assert latest["size"] == checkpoint.size == 10
    assert base64.b64decode(latest["root"]) == checkpoint.root
    for position in range(1, 11):
        proof = get(auditor, f"/api/audit/events/{position}/proof")
        assert (proof["leaf_index"], proof["tree_size"]) == (position - 1, 10)
        leaf = base64.b64decode(proof["leaf_hash"])
        assert verify_inclusion(leaf, position - 1, 10, unb64(proof["hashes"]), checkpoint.root)
    old = get(auditor, f"/api/audit/events/3/proof?size={kept.size}")
    assert verify_inclusion(base64.b64decode(old["leaf_hash"]), 2, 5, unb64(old["hashes"]), kept.root)
    consistency = get(auditor, f"/api/audit/consistency?from={kept.size}&to={checkpoint.size}")
    assert verify_consistency(5, 10, kept.root, checkpoint.root, unb64(consistency["hashes"]))
    assert get(auditor, "/api/audit/consistency?from=5")["to_size"] == 10


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/audit/events/6/proof", "position"),
        ("/api/audit/events/0/proof", "position"),
        ("/api/audit/events/1/proof?size=6", "size"),
        ("/api/audit/events/1/proof?size=0", "size"),
        ("/api/audit/events/1/proof?size=x", "size"),
        ("/api/audit/events/1/proof?size=99999999999999999999999", "size"),
        ("/api/audit/consistency?from=4&to=3", "from"),
        ("/api/audit/consistency?from=1&to=6", "to"),
        ("/api/audit/consistency?from=-1", "from"),
        ("/api/audit/consistency?form=1", "form"),
    ],
)
def test_positions_and_sizes_beyond_the_tree_are_a_400_naming_the_field(
    auditor: APIClient, service: PropertyService, alice: AuditContext, path: str, field: str
) -> None:
    record_five_events(service)
    transparency_log().make_checkpoint()
    body = get(auditor, path, 400)
    assert field in body["error"]["fields"], body


def test_managers_may_not_read_proofs(client_for: Callable[..., APIClient], service: PropertyService) -> None:
    manager = client_for("bob")
    for path in ("/api/audit/public-key", "/api/audit/checkpoint", "/api/audit/consistency?from=0"):
        assert get(manager, path, 403)["error"]["code"] == "permission_denied"


class Witness(BaseHTTPRequestHandler):
    received: list[str] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Witness.received.append(self.rfile.read(length).decode())
        self.send_response(201 if self.path == "/witness" else 500)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def witness_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Witness)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_checkpoint_publish_posts_the_signed_note_to_a_witness(
    service: PropertyService, alice: AuditContext, witness_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    record_five_events(service)
    Witness.received.clear()
    call_command("audit", "checkpoint", "--publish", f"{witness_url}/witness")
    assert Witness.received == [capsys.readouterr().out]
    with pytest.raises(CommandError, match=r"answered 500|HTTP Error 500"):
        call_command("audit", "checkpoint", "--publish", f"{witness_url}/elsewhere")


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**process_env(), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_signing_key_comes_from_a_pem_file_and_a_bad_key_is_refused_at_start(
    service: PropertyService, tmp_path: Path
) -> None:
    private = Ed25519PrivateKey.from_private_bytes(b"p" * 32)
    pem = tmp_path / "signing.pem"
    pem.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    from_file = manage(
        "audit", "public-key", COSMO_AUDIT_SIGNING_KEY="", COSMO_AUDIT_SIGNING_KEY_FILE=str(pem)
    )
    assert from_file.returncode == 0, from_file.stderr
    seed = base64.b64encode(b"p" * 32).decode()
    assert from_file.stdout.strip() == SigningKey.from_text("cosmo.local/audit", seed).verifier.vkey
    refused = manage("audit", "public-key", COSMO_AUDIT_SIGNING_KEY="not a key")
    assert refused.returncode != 0
    assert "COSMO_AUDIT_SIGNING_KEY" in refused.stderr


def test_after_a_rotation_the_api_shows_both_keys_and_verifies_both_keys_checkpoints(
    auditor: APIClient,
    service: PropertyService,
    alice: AuditContext,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = get(auditor, "/api/audit/public-key")
    assert old["previous_keys"] == []
    record_five_events(service)
    transparency_log().make_checkpoint()
    new_key = tmp_path / "new-signing-key"
    new_key.write_text(SigningKey.generate_text())
    call_command("audit", "rotate-signing-key", "--new-key-file", str(new_key))
    capsys.readouterr()
    handover = get(auditor, "/api/audit/checkpoint")["note"]
    settings.COSMO_AUDIT_SIGNING_KEY = new_key.read_text()
    settings.COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS = (old["key"],)
    new = get(auditor, "/api/audit/public-key")
    assert new["previous_keys"] == [old["key"]]
    assert VerifierKey.parse(old["key"]).open(handover).handover == VerifierKey.parse(new["key"])
    record_five_events(service)
    transparency_log().make_checkpoint()
    verified = get(auditor, "/api/audit/verify")
    assert (verified["ok"], verified["checkpoints_checked"]) == (True, 3)
    settings.COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS = ()
    assert get(auditor, "/api/audit/verify")["first_problem"]["kind"] == "forged_checkpoint"


def test_a_previous_verifier_key_that_is_not_one_of_this_logs_is_refused_at_start(
    service: PropertyService,
) -> None:
    refused = manage("audit", "public-key", COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS="not-a-key")
    assert refused.returncode != 0
    assert "COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS: not a verifier key" in refused.stderr
    elsewhere = SigningKey.from_text("other.example/log", SigningKey.generate_text()).verifier.vkey
    refused = manage("audit", "public-key", COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS=elsewhere)
    assert refused.returncode != 0
    assert "'other.example/log' is not COSMO_AUDIT_ORIGIN's key" in refused.stderr
