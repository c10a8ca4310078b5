"""The delivery thread: POSTs queued webhook deliveries, retrying failures with backoff.

It runs inside the server process (started by wsgi.py). Each attempt is recorded; a delivery
is retried after each delay in settings.PIGEON_RETRY_DELAYS and given up after the last one.
A row is leased while it is being sent, so a second thread or process never sends it twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta
from http.cookiejar import DefaultCookiePolicy

import requests
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from rally_sandbox.pigeon.models import Delivery, DeliveryAttempt, Webhook
from rally_sandbox.pigeon.payload import envelope

log = logging.getLogger(__name__)

# Longest sleep between checks for due deliveries when nothing wakes the thread earlier.
MAX_IDLE_SECONDS = 5.0
BATCH = 20
USER_AGENT = "Rally-Webhooks/2 (aharally Rally sandbox)"

_wake = threading.Event()
_sessions = threading.local()
_started_in_pid: int | None = None
# The delivery thread's id for the operating system (/proc/<pid>/task/<id>), so that a bench
# can tell its CPU from that of answering requests (`/sandbox-admin/webhook-deliveries/summary`).
delivery_thread_id: int | None = None
_start_lock = threading.Lock()


def wake() -> None:
    """Tell the delivery thread new deliveries are queued (no-op when it isn't running)."""
    _wake.set()


def start_delivery_thread() -> None:
    """Start the thread once per process (a forked child starts its own)."""
    global _started_in_pid
    with _start_lock:
        if _started_in_pid == os.getpid():
            return
        _started_in_pid = os.getpid()
    thread = threading.Thread(target=_run, name="pigeon-delivery", daemon=True)
    thread.start()


def _run() -> None:
    global delivery_thread_id
    delivery_thread_id = threading.get_native_id()
    while True:
        try:
            deliver_due()
            wait = _seconds_until_next_due()
        except Exception:
            log.exception("Webhook delivery loop failed; trying again shortly")
            wait = 1.0
            connection.close()
        if wait >= MAX_IDLE_SECONDS:
            # The thread lives forever: don't hold a connection idle when nothing is pending.
            # While deliveries keep coming (a bulk send: one a create) one connection serves
            # them all, instead of a new one (and its PRAGMAs) on every wake.
            connection.close()
        _wake.wait(timeout=wait)
        _wake.clear()


def _seconds_until_next_due() -> float:
    next_due = (
        Delivery.objects.filter(status=Delivery.Status.PENDING)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if next_due is None:
        return MAX_IDLE_SECONDS
    seconds = (next_due - timezone.now()).total_seconds()
    return min(max(seconds, 0.02), MAX_IDLE_SECONDS)


def _session() -> requests.Session:
    """One session per thread: a delivery reuses the kept-alive connection to its target
    instead of building a session and a TCP connection each time. It keeps no cookies, as a
    fresh `requests.post` does not."""
    session = getattr(_sessions, "session", None)
    if session is None:
        session = requests.Session()
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        _sessions.session = session
    return session


def _claimable(now):
    return Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now).filter(
        Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    )


def deliver_due() -> int:
    """Send every delivery that is due now; return how many attempts were made."""
    attempts = 0
    while True:
        if connection.errors_occurred:
            connection.close()  # a broken connection is replaced; a working one is kept
        now = timezone.now()
        ids = list(
            _claimable(now).order_by("next_attempt_at", "id").values_list("id", flat=True)[:BATCH]
        )
        if not ids:
            return attempts
        lease = now + timedelta(seconds=settings.PIGEON_TIMEOUT_SECONDS + 30)
        for delivery_id in ids:
            if not _claimable(now).filter(pk=delivery_id).update(leased_until=lease):
                continue  # someone else took it
            attempt_delivery(delivery_id)
            attempts += 1


def attempt_delivery(delivery_id: int) -> DeliveryAttempt | None:
    delivery = (
        Delivery.objects.select_related("webhook__subscription", "webhook__owner")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        return None
    webhook = delivery.webhook
    if webhook.disabled:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.FAILED, finished=timezone.now(), leased_until=None
        )
        return None

    from rally_sandbox.pigeon.services import webhook_json

    body = envelope(delivery.payload, webhook_json(webhook))
    started = timezone.now()
    clock = time.monotonic()
    status_code: int | None = None
    error = ""
    try:
        response = _session().post(
            webhook.target_url,
            json=body,
            timeout=settings.PIGEON_TIMEOUT_SECONDS,
            allow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = int((time.monotonic() - clock) * 1000)
    succeeded = not error
    number = delivery.attempts + 1
    delays = settings.PIGEON_RETRY_DELAYS
    finished = timezone.now()

    with transaction.atomic():
        attempt = DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            started=started,
            duration_ms=duration_ms,
            status_code=status_code,
            error=error,
        )
        update: dict = {"attempts": number, "leased_until": None}
        if succeeded:
            update.update(status=Delivery.Status.DELIVERED, finished=finished)
        elif number > len(delays):
            update.update(status=Delivery.Status.FAILED, finished=finished)
        else:
            update["next_attempt_at"] = finished + timedelta(seconds=delays[number - 1])
        Delivery.objects.filter(pk=delivery.pk).update(**update)
        counters: dict = {
            "fire_count": F("fire_count") + 1,
            "last_status": status_code,
            "last_response_ms": duration_ms,
        }
        if succeeded:
            counters["last_success"] = finished
        else:
            counters.update(error_count=F("error_count") + 1, last_failure=finished)
        # update() leaves last_update_date alone: delivery statistics are not edits.
        Webhook.objects.filter(pk=webhook.pk).update(**counters)
    if not succeeded:
        log.info(
            "Webhook %s delivery %s attempt %s failed: %s", webhook.uuid, delivery.pk, number, error
        )
    return attempt
