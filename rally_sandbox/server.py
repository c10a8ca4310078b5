"""Serve the sandbox with gunicorn: one worker process, many threads, run in-process."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class SandboxServer(BaseApplication):
    """A gunicorn application configured from a dict instead of a config file or argv."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if value is not None and key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from rally_sandbox.wsgi import application

        return application


def gunicorn_options(*, host: str, port: int, threads: int = 16, **extra: Any) -> dict[str, Any]:
    """Options for gunicorn; TLS options (certfile, keyfile, ca_certs, cert_reqs) go in extra."""
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": threads,
        # A slow client (or a fault-injected delay) must not get the worker killed.
        "timeout": 300,
        "graceful_timeout": 5,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": "rally-sandbox",
    }
    options.update(extra)
    return options


def serve(*, host: str, port: int, threads: int = 16, **extra: Any) -> None:
    SandboxServer(gunicorn_options(host=host, port=port, threads=threads, **extra)).run()
