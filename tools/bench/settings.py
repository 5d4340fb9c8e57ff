"""Settings for the bench server: production's, plus the plain-model app and its URLs.

Keeping the baseline endpoints behind their own settings module means they can never be
served by a production deployment, which loads ``infrastructure.settings`` only.
"""

from __future__ import annotations

from infrastructure.settings import *  # noqa: F403
from infrastructure.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tools.bench.apps.BenchConfig"]
ROOT_URLCONF = "tools.bench.urls"
