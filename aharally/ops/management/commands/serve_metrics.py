"""`manage.py serve_metrics`: this machine's process instruments, for a worker machine with no
web process beside it (docs/operations.md, "Metrics across machines").

It serves what the processes of this machine wrote under METRICS_DIR (Rally request latency,
failed attempts), behind the same bearer token as /metrics. The database's view (outbox depth,
sends, lag) is left to the web's /metrics, so that no figure is scraped twice.
"""

from __future__ import annotations

import hmac
from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from prometheus_client import CONTENT_TYPE_LATEST

from aharally.ops.metrics import render


def metrics_app(token: str):
    def app(environ, start_response):
        if environ.get("PATH_INFO", "/") not in ("/metrics", "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found"]
        scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')],
            )
            return [b"Unauthorized"]
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"Forbidden"]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [render(with_database=False)]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # a scrape every 15 s is not news
        pass


class Command(BaseCommand):
    help = "Serve this machine's process metrics (METRICS_DIR) on METRICS_PORT, token required."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 (a container's port)
        parser.add_argument("--port", type=int, default=settings.METRICS_PORT)

    def handle(self, *args, host: str, port: int, **options):
        if not settings.METRICS_TOKEN:
            raise CommandError("Set METRICS_TOKEN: the metrics are served to its bearer only.")
        if not settings.METRICS_DIR:
            raise CommandError(
                "Set METRICS_DIR (shared with the qcluster processes of this machine)."
            )
        server = make_server(
            host, port, metrics_app(settings.METRICS_TOKEN), handler_class=_QuietHandler
        )
        self.stdout.write(f"Serving this machine's metrics on {host}:{server.server_port}/metrics")
        server.serve_forever()
