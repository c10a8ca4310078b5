"""Waking an idle cluster the moment a task is queued in the database, instead of its polling.

django-q2's database broker finds a task by looking at the queue every Q_CLUSTER "poll":
short for a Send click's sake (50 ms), that was 20 looks a second in every idle cluster, most
of its CPU. Here whoever queues a task also wakes the clusters' pushers, which otherwise look
only every Q_POLL_MS (1,000 ms). A wake-up that goes astray (a pusher restarting, a connection
lost) delays a task by that much at most; it never loses one, since the queue stays the truth.

- PostgreSQL: `NOTIFY` in the transaction that queues the task, so a pusher is woken when
  the task can be seen, on whatever machine its cluster runs; each pusher `LISTEN`s on a
  connection of its own.
- SQLite (one machine): each pusher binds a Unix datagram socket in a directory named after
  the database file, and queuing a task sends a byte to each once its transaction commits.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import select
import socket
import tempfile
from pathlib import Path

from django.db import connections, transaction

logger = logging.getLogger(__name__)


def channel(list_key: str) -> str:
    """The queue's NOTIFY channel: an identifier of PostgreSQL's, whatever the cluster name."""
    return "aharally_tasks_" + hashlib.sha256(list_key.encode()).hexdigest()[:16]


def socket_directory(database: str, list_key: str) -> Path:
    """Where the pushers of the queue `list_key` in the SQLite file `database` listen."""
    name = f"{os.path.abspath(database)}\0{list_key}"
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"aharally-tasks-{digest}"


def wake(alias: str, list_key: str) -> None:
    """Wake the queue's idle pushers once the task just queued on `alias` can be seen."""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [channel(list_key)])
    elif connection.vendor == "sqlite":
        directory = socket_directory(connection.settings_dict["NAME"], list_key)
        transaction.on_commit(lambda: _send_to_each(directory), using=alias)


def _send_to_each(directory: Path) -> None:
    try:
        listeners = list(os.scandir(directory))
    except OSError:
        return  # no pusher has listened here yet
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for listener in listeners:
            try:
                sender.sendto(b"!", listener.path)
            except BlockingIOError:
                pass  # its buffer is full of wake-ups: it is awake already
            except (ConnectionRefusedError, FileNotFoundError):
                # Left by a pusher that was killed: nobody reads it.
                with contextlib.suppress(OSError):
                    os.unlink(listener.path)
            except OSError:
                logger.debug("Could not wake the pusher at %s", listener.path, exc_info=True)


class Listener:
    """A pusher's end: `wait(timeout)` returns True when woken, False after the timeout.

    Listening starts at the first wait, before the pusher's first look at the queue, so a
    task queued between a look and the wait that follows it wakes that wait at once.
    """

    def __init__(self, alias: str, list_key: str) -> None:
        self.alias = alias
        self.list_key = list_key
        self._socket: socket.socket | None = None
        self._path: Path | None = None
        self._pg = None
        self._failed = False

    def listen(self) -> None:
        if self._socket is not None or self._pg is not None:
            return
        connection = connections[self.alias]
        try:
            if connection.vendor == "postgresql":
                self._listen_postgresql(connection)
            elif connection.vendor == "sqlite":
                self._listen_sqlite(connection.settings_dict["NAME"])
        except Exception:
            if not self._failed:  # once, not at every look
                logger.warning(
                    "The task queue's wake-ups could not be listened to; the queue is looked "
                    "at every Q_POLL_MS instead",
                    exc_info=True,
                )
            self._failed = True
            self.close()
        else:
            self._failed = False

    def _listen_postgresql(self, connection) -> None:
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)  # Django's own, for its wrapper's cursors
        self._pg = psycopg.connect(**params, autocommit=True)
        self._pg.execute(f"LISTEN {channel(self.list_key)}")

    def _listen_sqlite(self, database: str) -> None:
        directory = socket_directory(database, self.list_key)
        path = directory / str(os.getpid())
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            for attempt in range(2):
                directory.mkdir(mode=0o700, exist_ok=True)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # a killed process's, whose id this one has now
                try:
                    listener.bind(str(path))
                    break
                except FileNotFoundError:
                    # The last pusher to leave took the directory away meanwhile (`close`).
                    if attempt:
                        raise
        except BaseException:
            listener.close()
            raise
        listener.setblocking(False)
        self._socket, self._path = listener, path

    def wait(self, timeout: float) -> bool:
        """Wait for a wake-up (taking every one already sent) up to `timeout` seconds."""
        self.listen()
        if self._pg is not None:
            return self._wait_postgresql(timeout)
        if self._socket is None:
            select.select([], [], [], timeout)
            return False
        woken, _, _ = select.select([self._socket], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while True:
                self._socket.recv(64)
        return bool(woken)

    def _wait_postgresql(self, timeout: float) -> bool:
        try:
            woken = any(True for _ in self._pg.notifies(timeout=timeout, stop_after=1))
            if woken:
                for _ in self._pg.notifies(timeout=0):
                    pass
        except Exception:
            logger.warning("The task queue's wake-ups were lost; listening again", exc_info=True)
            self.close()
            return False
        return woken

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._path is not None:
            with contextlib.suppress(OSError):
                self._path.unlink()
            # The last to leave takes the directory away (it stays while others listen):
            # a bench's or a test's throwaway database leaves nothing behind in /tmp.
            with contextlib.suppress(OSError):
                self._path.parent.rmdir()
            self._path = None
        if self._pg is not None:
            with contextlib.suppress(Exception):
                self._pg.close()
            self._pg = None
