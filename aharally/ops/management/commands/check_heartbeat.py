"""`manage.py check_heartbeat`: exit 0 when a task cluster on this host beats (a worker
container's healthcheck; /readyz asks the same of every host together)."""

from __future__ import annotations

import socket

from django.core.management.base import BaseCommand, CommandError

from aharally.ops.heartbeat import live_clusters


class Command(BaseCommand):
    help = "Succeed when a task cluster on this host has a recent heartbeat."

    def handle(self, *args, **options):
        host = socket.gethostname()
        if not live_clusters().filter(host=host).exists():
            raise CommandError(f"No task cluster on {host} has a recent heartbeat.")
        self.stdout.write(f"A task cluster on {host} is running.")
