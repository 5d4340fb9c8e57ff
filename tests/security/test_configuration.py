"""Configuration: one list of variables (README), read from the environment and ``.env``, and a
value that does not parse stops the process at start naming the variable.

The commands run as separate processes, as an operator would start them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import infrastructure.gunicorn_config
import infrastructure.metrics
import infrastructure.settings
from tests.conftest import ROOT
from tests.security.test_deploy_settings import bare_env, manage

KEYS = {
    "SECRET_KEY": "a-secret-key-for-the-configuration-tests-0123456789",
    "COSMO_AUDIT_KEY": "an-audit-key-for-the-configuration-tests-0123456789",
    "COSMO_MASTER_KEY": "a-master-key-for-the-configuration-tests-0123456789",
}


def documented_variables() -> set[str]:
    """The first column of README "Configuration"'s table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Configuration\n") : text.index("\n### Production\n")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1])}


def test_every_variable_read_is_documented_and_every_documented_one_is_read() -> None:
    modules = (infrastructure.settings, infrastructure.gunicorn_config, infrastructure.metrics)
    read = {name for module in modules for name in module.env.dump()}
    documented = documented_variables()
    assert read - documented == set(), "read but missing from README's table"
    assert documented - read == set(), "in README's table but never read"


def test_settings_read_no_variable_around_the_library() -> None:
    for module in (infrastructure.settings, infrastructure.gunicorn_config):
        source = Path(str(module.__file__)).read_text(encoding="utf-8")
        assert "os.environ" not in source, f"{module.__name__}: read it with env.int(...) & co"


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("COSMO_IMAGE_ATTEMPTS", "three", "Not a valid integer."),
        ("COSMO_IMAGE_WIDTHS", "2048,big", "{1: ['Not a valid integer.']}"),
        ("COSMO_IMAGE_TARGET_SSIM", "high", "Not a valid number."),
        ("DEBUG", "maybe", "Not a valid boolean."),
        ("DATABASE_URL", "nosuchengine://x", "Not a valid database URL."),
    ],
)
def test_a_value_that_does_not_parse_stops_manage_py_with_one_line_naming_it(
    tmp_path: Path, name: str, value: str, complaint: str
) -> None:
    result = manage("check", env=bare_env(**KEYS, COSMO_VAR_DIR=str(tmp_path), **{name: value}))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f'Cosmo is not configured: Environment variable "{name}" invalid: {complaint}'
    ]


@pytest.mark.parametrize("name", ["COSMO_IMAGE_ATTEMPTS", "COSMO_WEB_WORKERS"])
def test_gunicorn_stops_at_start_naming_a_value_that_does_not_parse(tmp_path: Path, name: str) -> None:
    """Whether Django's settings or gunicorn's own read it: no worker rebooting forever."""
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "python:infrastructure.gunicorn_config"],
        cwd=ROOT,
        env=bare_env(**KEYS, COSMO_VAR_DIR=str(tmp_path), COSMO_BIND="127.0.0.1:0", **{name: "x"}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert f'Environment variable "{name}" invalid: Not a valid integer.' in result.stderr
    assert "Traceback" not in result.stderr


def test_dotenv_is_read_below_the_environment_and_above_var_local_env(tmp_path: Path) -> None:
    (tmp_path / "local.env").write_text(
        "COSMO_IMAGE_ATTEMPTS=1\nCOSMO_LOGIN_FAILURES_ALLOWED=1\nCOSMO_MAX_EVENT_BYTES=1000\n"
    )
    dotenv = tmp_path / "cosmo.env"
    dotenv.write_text(
        "COSMO_IMAGE_ATTEMPTS=2\nCOSMO_LOGIN_FAILURES_ALLOWED=2\n# a comment\nLOG_LEVEL='WARNING'\n"
    )
    shown = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.COSMO_IMAGE_ATTEMPTS, s.COSMO_LOGIN_FAILURES_ALLOWED,"
        " s.COSMO_MAX_EVENT_BYTES, s.LOGGING['root']['level'])",
        env=bare_env(
            **KEYS, COSMO_VAR_DIR=str(tmp_path), COSMO_ENV_FILE=str(dotenv), COSMO_IMAGE_ATTEMPTS="3"
        ),
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-1] == "3 2 1000 WARNING"
