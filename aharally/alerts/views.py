"""Notifications (the bell's page), read and unread, and each person's preferences."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from aharally.alerts import services
from aharally.alerts.forms import PreferencesForm
from aharally.alerts.models import AlertKind, Notification

PAGE_SIZE = 50


@login_required
@require_http_methods(["GET"])
def notifications(request: HttpRequest) -> HttpResponse:
    mine = Notification.objects.filter(user=request.user).select_related("workspace")
    page = Paginator(mine, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "alerts/notifications.html", {"page": page})


def _ids(values) -> list[int]:
    return [int(v) for v in values if str(v).isdigit()]


@login_required
@require_POST
def mark(request: HttpRequest) -> HttpResponse:
    """Mark read (the ones chosen, or all) or unread; only the person's own change."""
    ids = _ids(request.POST.getlist("ids"))
    action = request.POST.get("action")
    if action == "unread":
        services.mark_unread(user=request.user, ids=ids)
    elif action == "all":
        services.mark_read(user=request.user)
    else:
        services.mark_read(user=request.user, ids=ids)
    return redirect("alerts:notifications")


@login_required
@require_POST
def open_notification(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Follow a notification to where it is fixed, marking it read (someone else's: 404)."""
    note = get_object_or_404(Notification, user=request.user, pk=notification_id)
    services.mark_read(user=request.user, ids=[note.pk])
    return redirect(note.url or "alerts:notifications")


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    current = services.preference_of(request.user)
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            wanted = set(form.cleaned_data["kinds"])
            services.set_preferences(
                user=request.user,
                muted_kinds=[k for k in AlertKind.values if k not in wanted],
                email=form.cleaned_data["email"],
                daily_digest=form.cleaned_data["daily_digest"],
            )
            messages.success(request, "Your alert preferences are saved.")
            return redirect("alerts:preferences")
    else:
        form = PreferencesForm(
            initial={
                "kinds": [k for k in AlertKind.values if current.wants(k)],
                "email": current.email,
                "daily_digest": current.daily_digest,
            }
        )
    return render(request, "alerts/preferences.html", {"form": form})
