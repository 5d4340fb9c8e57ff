#!/usr/bin/env python
"""Django's command-line utility for Cosmo."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infrastructure.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018 - loads the settings, to fail with a readable message
    except ImproperlyConfigured as error:
        sys.exit(f"Cosmo is not configured: {error} (for local use, run with DEBUG=1)")

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
