"""A page for demos: a signed-in subscription administrator switches faults on and off."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from rally_sandbox.faults.forms import FaultForm
from rally_sandbox.faults.registry import REGISTRY, STATS, FaultError
from rally_sandbox.oauth.sessions import signed_in_user


def subscription_admin_required(view):
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = signed_in_user(request)
        if user is None:
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('sandbox_oauth:login')}?{query}")
        if not user.subscription_admin:
            return HttpResponseForbidden("Only subscription administrators can inject faults.")
        request.sandbox_user = user
        return view(request, *args, **kwargs)

    return wrapper


def _page(request: HttpRequest, form: FaultForm, *, status: int = 200) -> HttpResponse:
    stats = STATS.snapshot()
    credentials = [
        (label, most, stats["in_flight"].get(label, 0))
        for label, most in sorted(stats["max_concurrent"].items())
    ]
    return render(
        request,
        "faults/page.html",
        {
            "user": request.sandbox_user,
            "form": form,
            "faults": REGISTRY.list(),
            "requests": stats["requests"],
            "credentials": credentials,
        },
        status=status,
    )


@require_GET
@subscription_admin_required
def page(request: HttpRequest) -> HttpResponse:
    return _page(request, FaultForm())


@require_POST
@subscription_admin_required
def add(request: HttpRequest) -> HttpResponse:
    form = FaultForm(request.POST)
    if form.is_valid():
        try:
            fault = REGISTRY.add(form.as_fault())
        except FaultError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Added fault #{fault.id} ({fault.kind}).")
            return redirect("sandbox_faults:page")
    return _page(request, form, status=400)


@require_POST
@subscription_admin_required
def clear(request: HttpRequest) -> HttpResponse:
    messages.success(request, f"Cleared {REGISTRY.clear()} fault(s).")
    return redirect("sandbox_faults:page")


@require_POST
@subscription_admin_required
def reset_stats(request: HttpRequest) -> HttpResponse:
    STATS.reset()
    messages.success(request, "Concurrency statistics reset.")
    return redirect("sandbox_faults:page")
