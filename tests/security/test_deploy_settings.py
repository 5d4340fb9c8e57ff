"""Safe by default, and a production configuration Django's own deployment checklist passes.

The commands run as a reader would type them: separate processes with none of the test run's
environment, only what the README says to set (or nothing at all).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from domain.service import PropertyService
from infrastructure import local_env
from tests.conftest import ROOT
from tests.security.http import manage_py_serve, raw

README = ROOT / "README.md"


def bare_env(**values: str) -> dict[str, str]:
    """A shell with no Cosmo variable in it (nor the checkout's .env), plus ``values``."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
    return {**{k: v for k, v in os.environ.items() if k in keep}, "COSMO_ENV_FILE": os.devnull, **values}


def manage(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def production_environment() -> dict[str, str]:
    """The ```sh block of README "Configuration" / "Production", with its <placeholders> filled in."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n### Production\n") :]
    block = section[section.index("```sh\n") + len("```sh\n") : section.index("\n```\n")]
    values = dict(line.split("=", 1) for line in block.splitlines() if line and not line.startswith("#"))
    filled = {
        name: re.sub(r"<[^>]*>", lambda _: secrets.token_urlsafe(50), value) for name, value in values.items()
    }
    assert {"DEBUG", "SECRET_KEY", "COSMO_AUDIT_KEY", "ALLOWED_HOSTS", "SECURE_HSTS_SECONDS"} <= set(filled)
    return filled


def test_check_deploy_is_clean_with_the_production_environment_the_readme_documents(tmp_path: Path) -> None:
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=bare_env(**production_environment(), COSMO_VAR_DIR=str(tmp_path)),
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (1 silenced)." in result.stdout


def test_check_deploy_names_what_is_missing_without_the_https_settings(tmp_path: Path) -> None:
    environment = {k: v for k, v in production_environment().items() if not k.startswith("SECURE_")}
    result = manage("check", "--deploy", env=bare_env(**environment, COSMO_VAR_DIR=str(tmp_path)))
    found = set(re.findall(r"security\.W\d+", result.stdout + result.stderr))
    # HSTS, the HTTPS redirect, and the admin's session cookie over HTTPS only; W003 stays silenced.
    assert found == {"security.W004", "security.W008", "security.W012"}


def test_help_works_with_no_configuration_and_writes_nothing(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = bare_env(COSMO_VAR_DIR=str(var))
    listing = manage("--help", env=env)
    assert listing.returncode == 0, listing.stderr
    assert "createuser" in listing.stdout
    assert "prune_audit" in listing.stdout
    for command in (["createuser", "--help"], ["help", "audit"], ["prune_audit", "-h"]):
        result = manage(*command, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("usage: manage.py")
    assert not var.exists()


def test_a_command_without_keys_or_debug_says_how_to_get_them(tmp_path: Path) -> None:
    result = manage("audit", "verify", env=bare_env(COSMO_VAR_DIR=str(tmp_path / "var")))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "SECRET_KEY must be set" in result.stderr
    assert "make run" in result.stderr


def test_every_cli_works_after_make_runs_setup_with_no_variables(tmp_path: Path) -> None:
    """What `make run` does first (local keys, migrate), then the commands a reader types next."""
    env = bare_env(COSMO_VAR_DIR=str(tmp_path))
    made = subprocess.run(
        [sys.executable, "-m", "infrastructure.local_env"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    for args, stdin, expected in [
        (["migrate", "--no-input"], "", "Applying"),
        (
            ["createuser", "alice", "--org", "acme", "--role", "manager", "--password-stdin"],
            "correct-horse-battery",
            "created manager",
        ),
        (["audit", "verify"], "", "OK: checked 0 events"),
        (["prune_audit", "--days", "90", "--dry-run"], "", ""),
        (["projections", "status"], "", "property_list"),
    ]:
        result = manage(*args, env=env, stdin=stdin)
        assert result.returncode == 0, (args, result.stderr)
        assert expected in result.stdout, (args, result.stdout)


def test_local_secrets_are_made_once_privately_and_never_rewritten(tmp_path: Path) -> None:
    path = local_env.create(tmp_path)
    first = local_env.read(path)
    assert set(first) == {"SECRET_KEY", "COSMO_AUDIT_KEY", "COSMO_AUDIT_SIGNING_KEY", "COSMO_MASTER_KEY"}
    assert all(len(first[name]) >= 50 for name in ("SECRET_KEY", "COSMO_AUDIT_KEY"))
    assert first["SECRET_KEY"] != first["COSMO_AUDIT_KEY"]
    assert path.stat().st_mode & 0o777 == 0o600
    assert local_env.create(tmp_path) == path
    assert local_env.read(path) == first
    assert [p.name for p in tmp_path.iterdir()] == ["local.env"], "no draft left behind"


def test_keys_of_an_older_checkout_are_adopted_so_its_audit_chain_still_verifies(tmp_path: Path) -> None:
    (tmp_path / "dev-cosmo-audit-key").write_text("an-audit-key-from-before-local-env-existed-0123456789\n")
    values = local_env.read(local_env.create(tmp_path))
    assert values["COSMO_AUDIT_KEY"] == "an-audit-key-from-before-local-env-existed-0123456789"
    assert len(values["SECRET_KEY"]) >= 50


def test_the_local_file_reads_as_a_shell_would(tmp_path: Path) -> None:
    path = tmp_path / "local.env"
    path.write_text(
        "# a comment\nSECRET_KEY=\"quoted value\"\nDATABASE_URL='sqlite:///x'\n\nNOT A LINE\nEMPTY=\n"
    )
    assert local_env.read(path) == {"SECRET_KEY": "quoted value", "DATABASE_URL": "sqlite:///x", "EMPTY": ""}
    assert local_env.read(tmp_path / "absent.env") == {}


def test_the_environment_wins_over_the_local_file(tmp_path: Path) -> None:
    local_env.create(tmp_path)
    mine = "a-key-set-in-the-environment-of-this-process-0123456789"
    shown = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
        env=bare_env(COSMO_VAR_DIR=str(tmp_path), SECRET_KEY=mine),
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-1] == mine


def test_every_answer_forbids_framing(service: PropertyService) -> None:
    assert APIClient().get("/health")["X-Frame-Options"] == "DENY"
    assert APIClient().get("/api/properties")["X-Frame-Options"] == "DENY"


def test_the_docs_page_runs_only_its_own_scripts(service: PropertyService) -> None:
    page = APIClient().get("/api/docs")
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert b"<script>" not in page.content, "no inline script for the policy to block"
    script = APIClient().get("/api/docs", {"script": ""})
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


def test_hsts_and_the_https_redirect_follow_the_environment(
    settings: Settings, service: PropertyService
) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    plain = APIClient().get("/api/properties")
    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/api/properties"
    assert APIClient().get("/health").status_code == 200, "load balancers probe over plain HTTP"
    secure = APIClient().get("/health", secure=True)
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.parametrize("proto", ["https", "http"])
def test_behind_the_proxy_a_request_is_secure_when_the_proxy_says_so(
    settings: Settings, service: PropertyService, proto: str
) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = APIClient().get("/api/properties", HTTP_X_FORWARDED_PROTO=proto)
    assert response.status_code == (401 if proto == "https" else 301)


@pytest.mark.http_server
def test_with_debug_off_make_runs_server_still_serves_the_docs_and_their_assets(
    service: PropertyService,
) -> None:
    with manage_py_serve(debug=False) as base:
        status, content_type, page = raw(base, "GET", "/api/docs")
        assert (status, content_type.split(";")[0]) == (200, "text/html")
        assets = re.findall(rb'(?:src|href)="(/static/[^"]+)"', page)
        assert len(assets) >= 3, page
        for asset in [a.decode() for a in assets]:
            assert raw(base, "GET", asset)[0] == 200, asset
        status, content_type, script = raw(base, "GET", "/api/docs?script=")
        assert (status, content_type) == (200, "application/javascript")
        assert b"SwaggerUIBundle" in script
        status, content_type, _ = raw(base, "GET", "/no-such-page")
        assert (status, content_type) == (404, "application/json")
