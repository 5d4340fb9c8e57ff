"""Where every setting comes from: the process environment, then ``.env``, then ``var/local.env``.

One :class:`environs.Env` reads them all, so a value that does not parse stops the process at start
with an error naming the variable (``Environment variable "COSMO_IMAGE_ATTEMPTS" invalid: Not a
valid integer.``) instead of a traceback from a bare ``int(os.environ[...])`` later. The first file
found wins over the ones after it and the environment wins over every file: an operator's
deployment sets variables or writes ``.env``; ``var/local.env`` only holds the keys ``make run``
made for a checkout.

``infrastructure/settings.py`` and ``infrastructure/gunicorn_config.py`` are the only readers;
``tests/security/test_configuration.py`` checks that README "Configuration" lists exactly what
they read.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

from django.core.exceptions import ImproperlyConfigured
from environs import Env, EnvError

from infrastructure import local_env

# What a process stops on at start (manage.py, the WSGI module): shown as one line, not a traceback.
CONFIGURATION_ERRORS = (ImproperlyConfigured, EnvError)


def exit_unconfigured(error: Exception, code: int = 1) -> NoReturn:
    """Stop the process with one line naming what is wrong, not a traceback."""
    sys.stderr.write(f"Cosmo is not configured: {error}\n")
    raise SystemExit(code)


def load(base_dir: Path) -> Env:
    """The environment of a process started in the checkout at ``base_dir``."""
    env = Env()
    # COSMO_ENV_FILE names the file itself, so it comes from the environment alone.
    env.read_env(env.path("COSMO_ENV_FILE", base_dir / ".env"), recurse=False)
    env.read_env(var_dir(env, base_dir) / local_env.FILE_NAME, recurse=False)
    return env


def var_dir(env: Env, base_dir: Path) -> Path:
    """Where Cosmo keeps its local state: ``COSMO_VAR_DIR``, or ``var/`` in the checkout."""
    return Path(env.path("COSMO_VAR_DIR", base_dir / "var"))


def comma_separated(env: Env, name: str, default: str = "") -> list[str]:
    """``a, b,,c`` as ``["a", "b", "c"]``: spaces around an item and empty items are typos, not values."""
    return [item.strip() for item in env.str(name, default).split(",") if item.strip()]
