"""A gate in front of the live server, closed between tests.

The live server outlives each test's database, and the Rally sandbox keeps delivering webhooks
to it after the test that registered them is over. A delivery handled while the test database
is flushed writes rows with foreign keys during PostgreSQL's TRUNCATE (a deadlock), and one
handled after it leaves rows in the next test's database. The gate counts the requests in
flight, and once closed turns new ones away with a 503 (a sandbox retries a 503 later).
"""

from __future__ import annotations

import threading

REFUSED = b"The test this live server served is over."


class LiveServerGate:
    def __init__(self, app) -> None:
        self.app = app
        self.is_open = False
        self.in_flight = 0
        self._changed = threading.Condition()

    @classmethod
    def around(cls, live_server) -> LiveServerGate:
        """The gate in front of this live server's application, put there on first use."""
        httpd = live_server.thread.httpd
        app = httpd.get_app()
        if not isinstance(app, cls):
            app = cls(app)
            httpd.set_app(app)
        return app

    def __call__(self, environ, start_response):
        with self._changed:
            if not self.is_open:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [REFUSED]
            self.in_flight += 1
        try:
            # Django's handler has done its database work by the time it returns the response.
            return self.app(environ, start_response)
        finally:
            with self._changed:
                self.in_flight -= 1
                self._changed.notify_all()

    def open(self) -> None:
        with self._changed:
            self.is_open = True

    def close(self, *, timeout: float = 30.0) -> None:
        """Turn new requests away, and wait for those in flight to be answered."""
        with self._changed:
            self.is_open = False
            if not self._changed.wait_for(lambda: self.in_flight == 0, timeout=timeout):
                raise TimeoutError(f"{self.in_flight} requests still in flight after {timeout} s")
