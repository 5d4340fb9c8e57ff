"""Test settings: the real settings, with a throwaway key and a fast password hasher."""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "insecure-key-for-tests-only")

from infrastructure.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS: list[dict[str, object]] = []
