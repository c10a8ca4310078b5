"""Wizard steps 1-3: name (and template), Rally account, authorization (OAuth or API key)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from aharally.integrations import oauth
from aharally.integrations.connection import (
    RallyProblem,
    check_secrets,
    has_credentials,
    installation_client_applies,
    probe_rally_url,
)
from aharally.integrations.models import AuthMethod, Integration, WizardStep
from aharally.integrations.wizard import lookups, services
from aharally.integrations.wizard.common import (
    ahead_of_progress,
    get_integration,
    leave_wizard,
    owner_required,
    redirect_to_step,
    render_step,
)
from aharally.integrations.wizard.forms import AccountForm, ApiKeyForm, NameForm, OAuthClientForm
from aharally.rally.auth import ApiKey, OAuthToken
from aharally.workspaces.models import Capability, Membership


@owner_required
def new(request: HttpRequest) -> HttpResponse:
    """Settings → Integrations → + Rally: step 1 for a new integration."""
    form = NameForm(request.POST or None, templates=services.templates_for(request.user))
    if request.method == "POST" and form.is_valid():
        template = form.cleaned_data.get("template")
        try:
            integration = services.create_draft(
                workspace=request.workspace,
                name=form.cleaned_data["name"],
                template=template,
                user=request.user,
            )
        except services.WizardError as error:
            form.add_error("template", str(error))
        else:
            # Built on a template, the one thing left to choose is the project.
            step = WizardStep.PROJECT if template is not None else integration.wizard_step
            return redirect_to_step(integration, step)
    return render_step(
        request,
        None,
        WizardStep.NAME,
        "integrations/wizard/name.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


@owner_required
def resume(request: HttpRequest, integration_id: int) -> HttpResponse:
    """A draft opens where its owner left it."""
    integration = get_integration(request, integration_id)
    return redirect_to_step(integration, integration.wizard_step)


@owner_required
def name(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = get_integration(request, integration_id)
    form = NameForm(request.POST or None, initial={"name": integration.name}, allow_template=False)
    if request.method == "POST" and form.is_valid():
        services.rename(integration=integration, name=form.cleaned_data["name"])
        following = WizardStep.PROJECT if integration.template_id else WizardStep.ACCOUNT
        return redirect_to_step(integration, following)
    return render_step(
        request,
        integration,
        WizardStep.NAME,
        "integrations/wizard/name.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


@owner_required
def account(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = get_integration(request, integration_id)
    if (early := ahead_of_progress(integration, WizardStep.ACCOUNT)) is not None:
        return early
    if integration.template_id:
        if request.method == "POST":
            return redirect_to_step(integration, WizardStep.AUTHORIZE)
        return render_step(
            request, integration, WizardStep.ACCOUNT, "integrations/wizard/account.html"
        )
    form = AccountForm(request.POST or None, initial={"rally_url": integration.rally_url})
    if request.method == "POST" and form.is_valid():
        url = form.cleaned_data["rally_url"]
        try:
            if url != integration.rally_url and integration.account_locked:
                raise services.WizardError(
                    "The Rally URL cannot change: this integration has already sent or linked "
                    "records, and they point into that Rally."
                )
            # Something must answer at a new URL; an unchanged one was checked when it was set.
            changed = url != integration.rally_url or integration.wizard_step == WizardStep.ACCOUNT
            warning = probe_rally_url(url) if changed else None
            services.set_account(integration=integration, rally_url=url)
        except (RallyProblem, services.WizardError) as error:
            form.add_error("rally_url", str(error))
        else:
            if warning:
                messages.warning(request, warning)
            return redirect_to_step(integration, WizardStep.AUTHORIZE)
    return render_step(
        request,
        integration,
        WizardStep.ACCOUNT,
        "integrations/wizard/account.html",
        {"form": form, "locked": integration.account_locked},
        status=400 if form.errors else 200,
    )


# Why the last authorization came to nothing; shown once, inside the step's one status box.
NOTICE_KEY = "wizard_authorize_notice"


def _tell_on_authorize(request: HttpRequest, integration: Integration, text: str) -> HttpResponse:
    request.session[NOTICE_KEY] = {"integration": integration.pk, "text": text}
    return redirect_to_step(integration, WizardStep.AUTHORIZE)


def _authorize_page(
    request: HttpRequest,
    integration: Integration,
    *,
    key_form=None,
    client_form=None,
    status: int = 200,
) -> HttpResponse:
    notice = request.session.pop(NOTICE_KEY, None)
    check_secrets(integration)  # unreadable secrets: stored as needing re-authorization, logged
    source = integration.source
    return render_step(
        request,
        integration,
        WizardStep.AUTHORIZE,
        "integrations/wizard/authorize.html",
        {
            "key_form": key_form or ApiKeyForm(),
            "client_form": client_form or OAuthClientForm(),
            "authorized": has_credentials(integration),
            "uses_api_key": source.auth_method == AuthMethod.API_KEY,
            "notice": notice["text"] if notice and notice["integration"] == integration.pk else "",
            # Once authorized, "Save and continue" is the way on; a Next link would be a second.
            "no_next_link": True,
            "unreadable": integration.secrets_unreadable,
            "installation_client": installation_client_applies(source.rally_url),
            "own_client_id": source.oauth_client_id,
            "redirect_uri": oauth.redirect_uri(),
        },
        status=status,
    )


@owner_required
def authorize(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = get_integration(request, integration_id)
    if (early := ahead_of_progress(integration, WizardStep.AUTHORIZE)) is not None:
        return early
    if request.method == "POST":
        # "Save and continue" once authorized.
        if has_credentials(integration):
            services.reach(integration, WizardStep.WORKSPACE)
            return redirect_to_step(integration, WizardStep.WORKSPACE)
        messages.error(request, "Authorize the integration with Rally first.")
        return _authorize_page(request, integration, status=400)
    return _authorize_page(request, integration)


@require_POST
@owner_required
def oauth_start(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = get_integration(request, integration_id)
    if integration.template_id:
        raise Http404("A derived integration uses its template's authorization.")
    if (early := ahead_of_progress(integration, WizardStep.AUTHORIZE)) is not None:
        return early
    try:
        # Rally's pages are another site: never an XHR (its form is not boosted anyway).
        return leave_wizard(request, oauth.start(request, integration))
    except oauth.AuthorizationFailed as failure:
        messages.error(request, failure.message)
        return redirect_to_step(integration, WizardStep.AUTHORIZE)


@require_POST
@owner_required
def oauth_client(request: HttpRequest, integration_id: int) -> HttpResponse:
    """The OAuth client the owner registered at a Rally other than the installation's."""
    integration = get_integration(request, integration_id)
    if integration.template_id:
        raise Http404("A derived integration uses its template's authorization.")
    if (early := ahead_of_progress(integration, WizardStep.AUTHORIZE)) is not None:
        return early
    form = OAuthClientForm(request.POST)
    if not form.is_valid():
        return _authorize_page(request, integration, client_form=form, status=400)
    services.set_oauth_client(
        integration=integration,
        client_id=form.cleaned_data["client_id"],
        client_secret=form.cleaned_data["client_secret"],
        user=request.user,
    )
    messages.success(request, "OAuth client saved. Now authorize with Rally.")
    return redirect_to_step(integration, WizardStep.AUTHORIZE)


def _owned_integration(request: HttpRequest, integration_id: int) -> Integration:
    integration = (
        Integration.objects.select_related("workspace", "template")
        .filter(pk=integration_id)
        .first()
    )
    membership = (
        Membership.objects.filter(user=request.user, workspace_id=integration.workspace_id).first()
        if integration
        else None
    )
    if membership is None or not membership.can(Capability.CONFIGURE):
        raise Http404("No such integration.")
    return integration


def _after_authorizing(request: HttpRequest, integration: Integration) -> HttpResponse:
    """On to the workspace step; a re-authorization of a configured integration goes back to
    its settings (Re-authorize is offered there), not into the middle of the wizard."""
    if services.step_index(integration.wizard_step) > services.step_index(WizardStep.WORKSPACE):
        return leave_wizard(
            request,
            reverse(
                "integrations:settings",
                kwargs={"prefix": integration.workspace.prefix, "integration_id": integration.pk},
            ),
        )
    return redirect_to_step(integration, WizardStep.WORKSPACE)


@login_required
def oauth_callback(request: HttpRequest) -> HttpResponse:
    """Rally sends the owner back here with a code (or an error) and our state."""
    state = request.GET.get("state", "")
    pending = request.session.get(oauth.SESSION_KEY, {})
    try:
        integration_id = oauth.claim_state(request, state)
    except oauth.AuthorizationFailed as failure:
        # Show it on the step of the newest authorization still waiting, if there is one.
        newest = max(pending.values(), key=lambda v: v["started"], default=None)
        if newest is not None:
            try:
                integration = _owned_integration(request, newest["integration"])
            except Http404:
                integration = None
            if integration is not None:
                return _tell_on_authorize(request, integration, failure.message)
        return render(
            request,
            "integrations/wizard/oauth_failed.html",
            {"message": failure.message},
            status=400,
        )
    integration = _owned_integration(request, integration_id)
    error = request.GET.get("error")
    code = request.GET.get("code", "")
    try:
        if error or not code:
            raise oauth.AuthorizationFailed(
                oauth.describe_denial(
                    error or "no_code",
                    request.GET.get("error_description", ""),
                    still_authorized=has_credentials(integration),
                )
            )
        tokens = oauth.exchange_code(integration, code=code, state=state)
        name = lookups.rally_user_name(integration, credential=OAuthToken(tokens.access_token))
    except (oauth.AuthorizationFailed, RallyProblem) as failure:
        return _tell_on_authorize(request, integration, failure.message)
    services.store_authorization(
        integration=integration,
        authorization=services.Authorization(
            auth_method=AuthMethod.OAUTH,
            rally_user_name=name,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=tokens.expires_at,
        ),
        user=request.user,
    )
    messages.success(request, f"Authorized with Rally as {integration.rally_user_name}.")
    return _after_authorizing(request, integration)


@require_POST
@owner_required
def api_key(request: HttpRequest, integration_id: int) -> HttpResponse:
    """The alternative for Rally servers without OAuth: an API key, checked before it is kept."""
    integration = get_integration(request, integration_id)
    if integration.template_id:
        raise Http404("A derived integration uses its template's authorization.")
    if (early := ahead_of_progress(integration, WizardStep.AUTHORIZE)) is not None:
        return early
    form = ApiKeyForm(request.POST)
    if form.is_valid():
        key = form.cleaned_data["api_key"]
        try:
            name = lookups.rally_user_name(integration, credential=ApiKey(key))
        except RallyProblem as problem:
            form.add_error("api_key", problem.message)
        else:
            services.store_authorization(
                integration=integration,
                authorization=services.Authorization(
                    auth_method=AuthMethod.API_KEY,
                    rally_user_name=name,
                    api_key=key,
                ),
                user=request.user,
            )
            messages.success(
                request, f"Authorized with an API key of {integration.rally_user_name}."
            )
            return _after_authorizing(request, integration)
    return _authorize_page(request, integration, key_form=form, status=400)
