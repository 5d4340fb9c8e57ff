"""``manage.py createuser NAME --org ORG --role ROLE``: the only way accounts are made.

No account or password ships with Cosmo; the password is asked for, or read from stdin.
"""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.login_throttle import folded_username
from domain.audit import Role

ROLES = [Role.MANAGER.value, Role.AUDITOR.value, Role.ADMIN.value]


class Command(BaseCommand):
    help = "Create an API user in an organisation with a role (manager, auditor or admin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--org", required=True, help="organisation id, e.g. acme")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        username: str = options["username"]
        try:
            User.username_validator(username)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        # Logins are throttled per folded name: two accounts that fold alike would share a limit.
        taken = [
            name
            for name in User.objects.values_list("username", flat=True)
            if folded_username(name) == folded_username(username)
        ]
        if taken:
            raise CommandError(f"user {taken[0]!r} already exists")
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("passwords do not match")
        user = User(username=username, organisation=options["org"].strip(), role=options["role"])
        if not user.organisation:
            raise CommandError("--org must not be empty")
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        user.set_password(password)
        user.save()
        self.stdout.write(f"created {options['role']} {username!r} in organisation {user.organisation!r}")
