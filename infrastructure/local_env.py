"""Local secrets, made once per checkout in ``var/local.env`` and read by every process started there.

``make run`` creates the file (``python -m infrastructure.local_env``) before it starts the server
with DEBUG off, and the settings read it whenever it is present, so ``manage.py createuser``,
``audit verify`` and ``prune_audit`` typed later in the same checkout sign and verify with the
same keys, with no variable to export and no reason to turn DEBUG on. A variable set in the
environment always wins over the file: a deployment sets its own and never needs one.

The file is ``KEY=VALUE`` lines (``#`` comments allowed), readable by its owner only, and never
rewritten once it exists: a new audit key would make the recorded chain unverifiable. A secret
added in a later version (the checkpoint signing key, the master key of the data keys) is
appended to an older file, once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from dotenv import dotenv_values

from infrastructure.signed_note import SigningKey

FILE_NAME = "local.env"
SECRETS = ("SECRET_KEY", "COSMO_AUDIT_KEY")
# The Ed25519 seed that signs audit checkpoints (infrastructure/signed_note.py reads it).
SIGNING_KEY = "COSMO_AUDIT_SIGNING_KEY"
# Wraps the data keys personal fields are encrypted under (infrastructure/data_keys.py).
MASTER_KEY = "COSMO_MASTER_KEY"
# Checkouts from before this file kept each development key in a file of its own: adopt them, so
# existing tokens and the audit chain recorded under them stay valid.
_LEGACY_FILES = {"SECRET_KEY": "dev-secret-key", "COSMO_AUDIT_KEY": "dev-cosmo-audit-key"}
_HEADER = (
    "# Made once by `make run` for this checkout only; never commit or copy it to a server.\n"
    "# Changing COSMO_AUDIT_KEY makes the audit chain recorded so far unverifiable.\n"
    "# Losing COSMO_MASTER_KEY makes every recorded name, address and user agent unreadable.\n"
)


def read(path: Path) -> dict[str, str]:
    """The variables in ``path``, parsed as the settings parse it; an absent file holds none."""
    return {name: value for name, value in dotenv_values(path).items() if value is not None}


def create(directory: Path) -> Path:
    """Make ``directory/local.env`` with fresh secrets unless it exists; return its path.

    The file appears complete or not at all (written aside, then linked into place), and of two
    processes racing to make it, one wins and both read the winner's keys.
    """
    path = directory / FILE_NAME
    if path.exists():
        _add_later_keys(path)
        return path
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f"{name}={_legacy(directory, name) or secrets.token_urlsafe(50)}\n" for name in SECRETS]
    lines.append(f"{SIGNING_KEY}={SigningKey.generate_text()}\n")
    lines.append(f"{MASTER_KEY}={secrets.token_urlsafe(50)}\n")
    draft = directory / f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(_HEADER + "".join(lines))
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # someone else made it first: theirs stands
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    return path


def _add_later_keys(path: Path) -> None:
    """Give a file made before checkpoints (or data keys) existed the keys they need; the other
    lines stay as they are."""
    later: dict[str, Callable[[], str]] = {
        SIGNING_KEY: SigningKey.generate_text,
        MASTER_KEY: lambda: secrets.token_urlsafe(50),
    }
    if all(name in read(path) for name in later):
        return
    with path.open("a", encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_EX)  # of two processes adding one, the second sees the first's
        present = read(path)
        for name, generate in later.items():
            if name not in present:
                file.write(f"{name}={generate()}\n")


def _legacy(directory: Path, name: str) -> str | None:
    try:
        return (directory / _LEGACY_FILES[name]).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


if __name__ == "__main__":
    # `python -m infrastructure.local_env`: what `make run` calls before it starts anything.
    from infrastructure import environment  # it reads this module's file: imported only here

    root = Path(__file__).resolve().parent.parent
    made = create(environment.var_dir(environment.load(root), root))
    sys.stdout.write(f"Local secrets: {made}\n")
