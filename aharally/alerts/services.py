"""Episodes and who is told: an alert is said once when its condition starts to hold, again
only when what it says changes, and the episode ends when the condition no longer holds."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from aharally.alerts.models import AlertKind, Episode, Notification, Preference
from aharally.workspaces.models import ROLE_CAPABILITIES, Capability, Role

logger = logging.getLogger(__name__)

REVIEW_ROLES = [role for role, caps in ROLE_CAPABILITIES.items() if Capability.REVIEW in caps]


@dataclass(frozen=True)
class Alert:
    kind: str
    subject: str
    workspace: object
    title: str
    body: str
    # Where it is fixed: a path on this site.
    url: str
    fingerprint: str = ""
    integration: object = None


def owners_of(workspace) -> list:
    return list(
        get_user_model()
        .objects.filter(memberships__workspace=workspace, memberships__role=Role.OWNER)
        .order_by("pk")
    )


def reviewers_of(workspace) -> list:
    return list(
        get_user_model()
        .objects.filter(memberships__workspace=workspace, memberships__role__in=REVIEW_ROLES)
        .order_by("pk")
    )


def hold(alert: Alert, *, recipients) -> bool:
    """The alert's condition holds now: say it unless this episode said it already.

    True when it was said (an episode opened, or its fingerprint changed)."""
    with transaction.atomic():
        episode = Episode.objects.filter(
            kind=alert.kind, subject=alert.subject, closed_at__isnull=True
        ).first()
        if episode is not None:
            if episode.fingerprint == alert.fingerprint:
                return False
            # Only the evaluation that moves the fingerprint says it (two may run at once).
            moved = Episode.objects.filter(pk=episode.pk, fingerprint=episode.fingerprint).update(
                fingerprint=alert.fingerprint, said_at=timezone.now()
            )
            if not moved:
                return False
        else:
            try:
                with transaction.atomic():
                    episode = Episode.objects.create(
                        kind=alert.kind,
                        subject=alert.subject,
                        workspace=alert.workspace,
                        integration=alert.integration,
                        fingerprint=alert.fingerprint,
                        said_at=timezone.now(),
                    )
            except IntegrityError:
                return False  # another evaluation opened it, and says it
        created = _notify(episode, alert, recipients)
    if created:
        transaction.on_commit(lambda: email_notifications([n.pk for n in created]))
    return True


def release(kind: str, subject: str) -> int:
    """The condition no longer holds: its episode ends (the next time it holds is a new one)."""
    return Episode.objects.filter(kind=kind, subject=subject, closed_at__isnull=True).update(
        closed_at=timezone.now()
    )


def _notify(episode: Episode, alert: Alert, recipients) -> list[Notification]:
    preferences = {p.user_id: p for p in Preference.objects.filter(user__in=recipients)}
    rows = [
        Notification(
            user=user,
            episode=episode,
            kind=alert.kind,
            workspace=alert.workspace,
            title=alert.title[:200],
            body=alert.body,
            url=alert.url,
        )
        for user in recipients
        if preferences.get(user.pk) is None or preferences[user.pk].wants(alert.kind)
    ]
    return Notification.objects.bulk_create(rows)


def _wants_mail_now(preference: Preference | None) -> bool:
    return preference is None or (preference.email and not preference.daily_digest)


def email_notifications(ids: list[int]) -> int:
    """E-mail each notification to its person now, unless they chose no e-mail or a digest."""
    sent = 0
    notes = Notification.objects.filter(pk__in=ids, emailed_at__isnull=True).select_related(
        "user", "workspace"
    )
    preferences = {
        p.user_id: p for p in Preference.objects.filter(user__in={n.user_id for n in notes})
    }
    for note in notes:
        if not _wants_mail_now(preferences.get(note.user_id)):
            continue
        if _send(note.user, note.title, _text(note)):
            Notification.objects.filter(pk=note.pk).update(emailed_at=timezone.now())
            sent += 1
    return sent


def send_digests() -> int:
    """A daily e-mail to each person who chose the digest, of what they have not been mailed."""
    now, sent = timezone.now(), 0
    day_ago = now - timezone.timedelta(days=1)
    for preference in Preference.objects.filter(daily_digest=True, email=True).select_related(
        "user"
    ):
        if preference.last_digest_at and preference.last_digest_at > day_ago:
            continue
        notes = list(
            Notification.objects.filter(user=preference.user, emailed_at__isnull=True).order_by(
                "created_at", "pk"
            )
        )
        if not notes:
            continue
        text = "\n\n".join(_text(note) for note in notes)
        subject = f"aharally: {len(notes)} alert{'s' if len(notes) != 1 else ''} of the day"
        if _send(preference.user, subject, text):
            Notification.objects.filter(pk__in=[n.pk for n in notes]).update(emailed_at=now)
            Preference.objects.filter(pk=preference.pk).update(last_digest_at=now)
            sent += 1
    return sent


def _text(note: Notification) -> str:
    lines = [note.title, "", note.body]
    if note.url:
        lines += ["", f"Fix it here: {absolute(note.url)}"]
    lines += ["", f"Choose what you are told: {absolute(reverse('alerts:preferences'))}"]
    return "\n".join(lines)


def absolute(path: str) -> str:
    return settings.SITE_URL + path if path.startswith("/") else path


def _send(user, subject: str, text: str) -> bool:
    try:
        send_mail(subject, text, None, [user.email], fail_silently=False)
    except Exception:
        # The notification stays in the app (and unmailed); the mail server is the operator's.
        logger.exception("Could not e-mail an alert to user %s", user.pk)
        return False
    return True


def mark_read(*, user, ids: list[int] | None = None) -> int:
    """Mark the person's notifications read (all of them when `ids` is None)."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


def mark_unread(*, user, ids: list[int]) -> int:
    return Notification.objects.filter(user=user, pk__in=ids).update(read_at=None)


def set_preferences(*, user, muted_kinds: list[str], email: bool, daily_digest: bool) -> None:
    known = set(AlertKind.values)
    Preference.objects.update_or_create(
        user=user,
        defaults={
            "muted_kinds": sorted(k for k in muted_kinds if k in known),
            "email": email,
            "daily_digest": daily_digest,
        },
    )


def preference_of(user) -> Preference:
    return Preference.objects.filter(user=user).first() or Preference(user=user)


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def prune_read() -> int:
    """Delete the notifications read and older than ALERTS_KEEP_READ_DAYS (run hourly with the
    digests): the bell's list stays short and the table does not grow forever. Unread ones
    stay until they are read."""
    cutoff = timezone.now() - timezone.timedelta(days=settings.ALERTS_KEEP_READ_DAYS)
    deleted, _ = Notification.objects.filter(read_at__isnull=False, created_at__lt=cutoff).delete()
    return deleted
