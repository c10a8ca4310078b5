from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from aharally.records.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo


class Command(BaseCommand):
    help = "Create the demo workspaces, records and people (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Seed only a database that has no user yet (what `make run` does).",
        )

    def handle(self, *args, **options):
        if options["if_empty"] and get_user_model().objects.exists():
            self.stdout.write("The database has users already: the demo is not seeded again.")
            return
        for line in seed_demo():
            self.stdout.write(line)
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for demo in DEMO_USERS:
            self.stdout.write(f"  {demo.email:<20} {demo.role}")
