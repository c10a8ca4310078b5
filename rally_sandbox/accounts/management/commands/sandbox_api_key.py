"""`python -m rally_sandbox manage sandbox_api_key USER`: issue a new API key."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from rally_sandbox.accounts.models import User
from rally_sandbox.accounts.services import create_api_key


class Command(BaseCommand):
    help = "Create an API key for a sandbox user and print it (the only time it is shown)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username", help="the user's UserName, e.g. developer@example.com")
        parser.add_argument("--name", default="API key", help="a label for the key")
        parser.add_argument("--read-only", action="store_true", help="refuse writes with it")

    def handle(self, *args, username: str, name: str, read_only: bool, **options) -> None:
        user = User.objects.filter(username__iexact=username).first()
        if user is None:
            raise CommandError(f"No sandbox user {username!r}.")
        self.stdout.write(create_api_key(user=user, name=name, read_only=read_only))
