"""Settings → Workspace → Integrations: the list, each integration's settings and More options
(use as template, client certificate, disable/enable, delete, check connection), its log, and
the Manage integrations report. Owners only; outsiders get 404.

Every action is a plain POST that redirects with a message.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from aharally.integrations import hooks, lifecycle
from aharally.integrations.certificates import (
    CertificateError,
    certificate_info,
    remove_client_certificate,
    set_client_certificate,
)
from aharally.integrations.connection import check_secrets
from aharally.integrations.forms_manage import (
    ClientCertificateForm,
    LogFilterForm,
    ReportFilterForm,
)
from aharally.integrations.models import Integration, IntegrationState, WizardStep
from aharally.integrations.report import (
    DisplayState,
    ReportFilters,
    cluster_notice,
    display_state_of,
    health_of,
    report_choices,
    report_rows,
    sync_counts,
    with_display_state,
)
from aharally.integrations.templates_service import (
    TemplateError,
    derived_integrations,
    effective_config,
    stop_using_as_template,
    use_as_template,
)
from aharally.workspaces.access import require_capability
from aharally.workspaces.models import Capability

CONFIGURE = Capability.CONFIGURE
LOG_PAGE_SIZE = 25

# The steps an integration built on a template still configures itself.
OWN_STEPS_WITH_TEMPLATE = {WizardStep.NAME, WizardStep.PROJECT, WizardStep.ENABLE}


def _integration(request: HttpRequest, integration_id: int) -> Integration:
    return get_object_or_404(
        Integration.objects.select_related("workspace", "template", "authorized_by"),
        pk=integration_id,
        workspace=request.workspace,
    )


def _settings_redirect(integration: Integration) -> HttpResponse:
    return redirect(
        "integrations:settings", prefix=integration.workspace.prefix, integration_id=integration.pk
    )


def _reverse_or_none(name: str, **kwargs) -> str | None:
    # The wizard's URLs live in another module; a page must not break while one is missing.
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return None


def _step_links(integration: Integration) -> dict[str, str | None]:
    links = {}
    for step in WizardStep.values:
        if integration.template_id and step not in OWN_STEPS_WITH_TEMPLATE:
            links[step] = None
            continue
        links[step] = _reverse_or_none(
            f"integrations:wizard_{step}",
            prefix=integration.workspace.prefix,
            integration_id=integration.pk,
        )
    return links


@require_capability(CONFIGURE)
def index(request: HttpRequest) -> HttpResponse:
    integrations = list(
        with_display_state(
            Integration.objects.filter(workspace=request.workspace).select_related("template")
        ).order_by("name", "pk")
    )
    for integration in integrations:
        check_secrets(integration)
    counts = sync_counts([i.pk for i in integrations])
    rows = [(i, DisplayState(i.display_state).label, counts[i.pk]) for i in integrations]
    return render(
        request,
        "integrations/index.html",
        {
            "rows": rows,
            "new_url": _reverse_or_none("integrations:wizard_new", prefix=request.workspace.prefix),
            "cluster_notice": cluster_notice(),
            "tab": "integrations",
        },
    )


@require_capability(CONFIGURE)
def settings_page(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = _integration(request, integration_id)
    check_secrets(integration)  # before the state is read: unreadable secrets need re-auth
    state = display_state_of(integration)
    return render(
        request,
        "integrations/settings.html",
        {
            "extra_actions": hooks.settings_actions(integration),
            "integration": integration,
            "config": effective_config(integration),
            "state": state,
            "state_label": DisplayState(state).label,
            "certificate": certificate_info(integration),
            "derived": list(derived_integrations(integration)) if integration.is_template else [],
            "counts": sync_counts([integration.pk])[integration.pk],
            "health": health_of([integration.pk]).get(integration.pk),
            "step_links": _step_links(integration),
            "resume_url": _reverse_or_none(
                f"integrations:wizard_{integration.wizard_step}",
                prefix=integration.workspace.prefix,
                integration_id=integration.pk,
            ),
            "recent_log": list(integration.log.all()[:5]),
            "cluster_notice": cluster_notice(),
            "tab": "integrations",
        },
    )


@require_POST
@require_capability(CONFIGURE)
def make_template(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = _integration(request, integration_id)
    try:
        use_as_template(integration=integration, by=request.user)
    except TemplateError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            f"“{integration.name}” is now an integration template: pick it in the first step "
            "of the Rally wizard in any workspace you own.",
        )
    return _settings_redirect(integration)


@require_POST
@require_capability(CONFIGURE)
def unmake_template(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = _integration(request, integration_id)
    try:
        stop_using_as_template(integration=integration, by=request.user)
    except TemplateError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"“{integration.name}” is no longer a template.")
    return _settings_redirect(integration)


@require_capability(CONFIGURE)
def certificate(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = _integration(request, integration_id)
    if integration.template_id:
        # The certificate is the template's: set once, there, for all its integrations.
        return render(
            request,
            "integrations/certificate.html",
            {
                "integration": integration,
                "certificate": certificate_info(integration),
                "inherited": True,
                "tab": "integrations",
            },
        )
    posted = request.method == "POST"
    form = ClientCertificateForm(*((request.POST, request.FILES) if posted else ()))
    status = 200
    if posted:
        if form.is_valid():
            try:
                info = set_client_certificate(
                    integration=integration,
                    certificate_pem=form.cleaned_data["certificate_pem"],
                    private_key_pem=form.cleaned_data["private_key_pem"],
                    passphrase=form.cleaned_data.get("passphrase") or None,
                    by=request.user,
                )
            except CertificateError as error:
                field = error.field if error.field in form.fields else None
                form.add_error(field, error.message)
            else:
                messages.success(
                    request,
                    f"Client certificate saved: {info.subject}, expires "
                    f"{info.not_valid_after:%Y-%m-%d}. Every call to Rally presents it.",
                )
                return _settings_redirect(integration)
        status = 400
    return render(
        request,
        "integrations/certificate.html",
        {
            "integration": integration,
            "certificate": certificate_info(integration),
            "form": form,
            "inherited": False,
            "tab": "integrations",
        },
        status=status,
    )


@require_POST
@require_capability(CONFIGURE)
def remove_certificate(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = _integration(request, integration_id)
    try:
        remove_client_certificate(integration=integration, by=request.user)
    except CertificateError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Client certificate removed.")
    return _settings_redirect(integration)


@require_POST
@require_capability(CONFIGURE)
def disable(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = _integration(request, integration_id)
    try:
        lifecycle.disable_integration(integration=integration, by=request.user)
    except lifecycle.LifecycleError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Disabled “{integration.name}”.")
    return _settings_redirect(integration)


@require_POST
@require_capability(CONFIGURE)
def enable(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = _integration(request, integration_id)
    try:
        lifecycle.enable_integration(integration=integration, by=request.user)
    except lifecycle.LifecycleError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Enabled “{integration.name}”.")
    return _settings_redirect(integration)


@require_capability(CONFIGURE)
def delete(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = _integration(request, integration_id)
    if request.method == "POST":
        try:
            lifecycle.delete_integration(integration=integration, by=request.user)
        except lifecycle.LifecycleError as error:
            messages.error(request, error.message)
            return _settings_redirect(integration)
        messages.success(request, f"Deleted the integration “{integration.name}”.")
        return redirect("integrations:index", prefix=request.workspace.prefix)
    return render(
        request,
        "integrations/delete.html",
        {
            "integration": integration,
            "derived": list(derived_integrations(integration)) if integration.is_template else [],
            "counts": sync_counts([integration.pk])[integration.pk],
            "tab": "integrations",
        },
    )


@require_POST
@require_capability(CONFIGURE)
def check(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = _integration(request, integration_id)
    if integration.state == IntegrationState.DRAFT and not integration.source.rally_url:
        messages.error(request, "Configure the Rally account first.")
        return _settings_redirect(integration)
    try:
        message = lifecycle.check_connection(integration=integration)
    except lifecycle.LifecycleError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, message)
    return _settings_redirect(integration)


@require_capability(CONFIGURE)
def log(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = _integration(request, integration_id)
    check_secrets(integration)  # the log then says why it needs re-authorization
    form = LogFilterForm(request.GET or None)
    level = form.cleaned_data.get("level", "") if form.is_valid() else ""
    entries = integration.log.all()
    if level:
        entries = entries.filter(level=level)
    page = Paginator(entries, LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        # A filter or page change asks for the entries only (the named partial).
        "integrations/log.html#log" if request.htmx else "integrations/log.html",
        {
            "integration": integration,
            "form": form,
            "level": level,
            "page": page,
            "tab": "integrations",
        },
    )


@require_capability(CONFIGURE)
def manage(request: HttpRequest) -> HttpResponse:
    workspaces, templates = report_choices(request.user)
    form = ReportFilterForm(request.GET or None, workspaces=workspaces, templates=templates)
    filters = ReportFilters()
    if form.is_valid():
        filters = ReportFilters(
            state=form.cleaned_data.get("state", ""),
            workspace=form.cleaned_data.get("workspace", ""),
            template=form.cleaned_data.get("template", ""),
        )
    rows = report_rows(user=request.user, filters=filters)
    for row in rows:
        check_secrets(row.integration)
    return render(
        request,
        "integrations/manage.html#report" if request.htmx else "integrations/manage.html",
        {
            "form": form,
            "rows": rows,
            "filtered": any(vars(filters).values()),
            "cluster_notice": cluster_notice(),
            "tab": "integrations",
        },
    )
