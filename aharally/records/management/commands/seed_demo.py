from __future__ import annotations

from django.core.management.base import BaseCommand

from aharally.records.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo


class Command(BaseCommand):
    help = "Create the demo workspaces, records and people (safe to run again)."

    def handle(self, *args, **options):
        for line in seed_demo():
            self.stdout.write(line)
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for demo in DEMO_USERS:
            self.stdout.write(f"  {demo.email:<20} {demo.role}")
