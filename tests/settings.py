"""Test settings: the real settings, with a throwaway key and a fast password hasher."""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "insecure-key-for-tests-only-never-use-it-elsewhere")
os.environ.setdefault("COSMO_AUDIT_KEY", "insecure-audit-key-for-tests-only-never-use-it")
os.environ.setdefault("COSMO_MASTER_KEY", "insecure-master-key-for-tests-only-never-use-it")
# A fixed Ed25519 seed for checkpoints in tests (base64 of 32 bytes).
os.environ.setdefault("COSMO_AUDIT_SIGNING_KEY", "dGVzdC1vbmx5LWNoZWNrcG9pbnQta2V5LW5ldmVyLXU=")
# A developer's own .env configures their server, not the tests (nor the processes they start).
os.environ.setdefault("COSMO_ENV_FILE", os.devnull)

from infrastructure.settings import *  # noqa: F403

# MD5 keeps tests fast; PBKDF2 stays available for users that a real server process must verify.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = []
