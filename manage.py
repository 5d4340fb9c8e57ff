#!/usr/bin/env python
"""Django's command-line utility for Cosmo."""

from __future__ import annotations

import os
import secrets
import sys

HELP_WORDS = frozenset({"help", "--help", "-h"})


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infrastructure.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from infrastructure.environment import CONFIGURATION_ERRORS, exit_unconfigured

    try:
        settings.INSTALLED_APPS  # noqa: B018 - loads the settings, to fail with a readable message
    except CONFIGURATION_ERRORS as error:
        # A value that does not parse stops even help: it is a typo to fix, not a missing key.
        if not isinstance(error, ImproperlyConfigured) or not asks_for_help(sys.argv[1:]):
            exit_unconfigured(error)
        # Help only describes commands and signs nothing: a throwaway key lets it load them all.
        os.environ["SECRET_KEY"] = os.environ["COSMO_AUDIT_KEY"] = secrets.token_urlsafe(50)
        os.environ["COSMO_MASTER_KEY"] = secrets.token_urlsafe(50)
        settings.INSTALLED_APPS  # noqa: B018 - the settings module is imported afresh

    execute_from_command_line(sys.argv)


def asks_for_help(arguments: list[str]) -> bool:
    """``manage.py``, ``manage.py help [COMMAND]`` or ``manage.py [COMMAND] --help``."""
    return not arguments or arguments[0] in HELP_WORDS or bool(HELP_WORDS & set(arguments[1:]))


if __name__ == "__main__":
    main()
