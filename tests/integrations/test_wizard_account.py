"""Steps 1-2: Name (+ template) and Configure account."""

from __future__ import annotations

import pytest

from aharally.integrations.models import Integration, IntegrationState, WizardStep
from aharally.integrations.wizard import services
from tests.factories import make_user, make_workspace
from tests.integrations.wizard_support import draft, step_url
from tests.sandbox import free_port

pytestmark = pytest.mark.django_db


def new_url(workspace) -> str:
    from django.urls import reverse

    return reverse("integrations:wizard_new", kwargs={"prefix": workspace.prefix})


def test_the_wizard_starts_with_a_name_and_an_optional_template(owner_client, cast):
    page = owner_client.get(new_url(cast.workspace)).content.decode()
    assert "Integration name" in page and "Integration template" in page
    assert "Save and continue" in page
    assert 'aria-current="step"' in page


def test_saving_a_name_creates_a_draft_and_continues_to_the_account(owner_client, cast):
    response = owner_client.post(new_url(cast.workspace), {"name": "  Platform to Rally "})
    integration = Integration.objects.get()
    assert response["Location"] == step_url(integration, "account")
    assert integration.name == "Platform to Rally"
    assert integration.state == IntegrationState.DRAFT
    assert integration.wizard_step == WizardStep.ACCOUNT
    assert integration.created_by == cast.owner


def test_an_empty_name_is_refused_and_nothing_is_created(owner_client, cast):
    response = owner_client.post(new_url(cast.workspace), {"name": "   "})
    assert response.status_code == 400
    assert "Give the integration a name" in response.content.decode()
    assert not Integration.objects.exists()


def test_templates_offered_are_those_of_workspaces_the_owner_owns(owner_client, cast):
    mine = draft(cast.workspace, cast.owner, name="Company template")
    Integration.objects.filter(pk=mine.pk).update(is_template=True)
    theirs = draft(cast.other_workspace, cast.outsider, name="Someone else's template")
    Integration.objects.filter(pk=theirs.pk).update(is_template=True)
    page = owner_client.get(new_url(cast.workspace)).content.decode()
    assert "Company template" in page
    assert "Someone else" not in page
    response = owner_client.post(new_url(cast.workspace), {"name": "X", "template": theirs.pk})
    assert response.status_code == 400
    assert Integration.objects.filter(name="X").count() == 0


def test_an_integration_from_a_template_skips_to_choosing_its_project(owner_client, cast):
    template = draft(cast.workspace, cast.owner, name="Company template")
    Integration.objects.filter(pk=template.pk).update(
        is_template=True, rally_workspace_oid=77, rally_workspace_name="Engineering"
    )
    second = make_workspace("Mobile", "MOB", owner=cast.owner)
    owner_client.post(new_url(second), {"name": "Mobile to Rally", "template": template.pk})
    derived = Integration.objects.get(name="Mobile to Rally")
    assert derived.template_id == template.pk
    assert derived.wizard_step == WizardStep.PROJECT
    assert derived.rally_workspace_name == "Engineering"
    assert derived.source == Integration.objects.get(pk=template.pk)


@pytest.fixture
def integration(cast, wizard_settings):
    return draft(cast.workspace, cast.owner)


def test_the_account_step_offers_rally1_by_default(owner_client, integration):
    page = owner_client.get(step_url(integration, "account")).content.decode()
    assert 'value="https://rally1.rallydev.com"' in page
    assert "cannot be changed once you start using the integration" in page


def test_a_reachable_rally_url_is_normalised_saved_and_leads_to_authorize(
    owner_client, integration, rally_sandbox
):
    typed = rally_sandbox.base_url.upper().replace("HTTP://", "http://") + "/slm/#/dashboard"
    response = owner_client.post(step_url(integration, "account"), {"rally_url": typed})
    assert response["Location"] == step_url(integration, "authorize")
    integration.refresh_from_db()
    assert integration.rally_url == rally_sandbox.base_url
    assert integration.wizard_step == WizardStep.AUTHORIZE


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("not a url at all", "A URL has no spaces"),
        (
            "rally.example.com",
            "Add https:// at the start of the Rally URL: https://rally.example.com.",
        ),
        ("https://no-such-host.invalid", "Could not find the host no-such-host.invalid"),
        ("ftp://rally.example.com", "must start with https://"),
        ("https://user:secret@rally.example.com", "Leave the user name and password out"),
    ],
)
def test_a_malformed_url_gets_a_message_and_saves_nothing(
    owner_client, integration, typed, message
):
    response = owner_client.post(step_url(integration, "account"), {"rally_url": typed})
    assert response.status_code == 400
    assert message in response.content.decode()
    integration.refresh_from_db()
    assert integration.rally_url == "https://rally1.rallydev.com"
    assert integration.wizard_step == WizardStep.ACCOUNT


def test_a_private_address_is_refused_unless_the_operator_allows_it(
    owner_client, integration, rally_sandbox, settings
):
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = False
    response = owner_client.post(
        step_url(integration, "account"), {"rally_url": rally_sandbox.base_url}
    )
    assert response.status_code == 400
    assert "points to an internal address (127.0.0.1)" in response.content.decode()
    integration.refresh_from_db()
    assert integration.rally_url == "https://rally1.rallydev.com"


def test_http_is_refused_unless_the_operator_allows_it(owner_client, integration, settings):
    settings.RALLY_ALLOW_HTTP = False
    response = owner_client.post(
        step_url(integration, "account"), {"rally_url": "http://rally.example.com"}
    )
    assert "must use https://" in response.content.decode()


def test_an_unreachable_host_gets_a_message_and_saves_nothing(owner_client, integration):
    closed = f"http://127.0.0.1:{free_port()}"
    response = owner_client.post(step_url(integration, "account"), {"rally_url": closed})
    assert response.status_code == 400
    assert f"Could not reach {closed}" in response.content.decode()
    integration.refresh_from_db()
    assert integration.rally_url == "https://rally1.rallydev.com"


def test_changing_the_url_forgets_credentials_and_choices_made_for_the_old_one(
    owner_client, integration, rally_sandbox
):
    services.set_account(integration=integration, rally_url="https://rally1.rallydev.com")
    Integration.objects.filter(pk=integration.pk).update(
        api_key="x" * 20, rally_workspace_oid=1, rally_workspace_name="Old"
    )
    owner_client.post(step_url(integration, "account"), {"rally_url": rally_sandbox.base_url})
    integration.refresh_from_db()
    assert integration.api_key == "" and integration.rally_workspace_oid is None


def test_the_url_is_locked_once_the_integration_has_sent_records(
    owner_client, integration, rally_sandbox
):
    from django.utils import timezone

    Integration.objects.filter(pk=integration.pk).update(first_sent_at=timezone.now())
    page = owner_client.get(step_url(integration, "account")).content.decode()
    assert "locked: this integration has already sent or linked records" in page
    response = owner_client.post(
        step_url(integration, "account"), {"rally_url": rally_sandbox.base_url}
    )
    assert response.status_code == 400
    assert "cannot change" in response.content.decode()
    integration.refresh_from_db()
    assert integration.rally_url == "https://rally1.rallydev.com"


def test_steps_beyond_the_furthest_reached_redirect_back_to_it(owner_client, integration):
    response = owner_client.get(step_url(integration, "mappings"))
    assert response["Location"] == step_url(integration, "account")


def test_a_draft_resumes_where_it_was_left(owner_client, integration):
    services.reach(integration, WizardStep.AUTHORIZE)
    response = owner_client.get(step_url(integration, "resume"))
    assert response["Location"] == step_url(integration, "authorize")


def test_an_integration_of_another_workspace_is_not_found(client, cast, wizard_settings):
    mine = draft(cast.workspace, cast.owner)
    stranger = make_user("stranger@example.com")
    other = make_workspace("Other", "OTH", owner=stranger)
    client.force_login(stranger)
    from django.urls import reverse

    url = reverse(
        "integrations:wizard_account", kwargs={"prefix": other.prefix, "integration_id": mine.pk}
    )
    assert client.get(url).status_code == 404


def test_wizard_labels_have_no_colon_and_mark_required_fields(owner_client, cast):
    page = owner_client.get("/w/PLAT/settings/integrations/rally/new/").content.decode()
    label = page.split('<label for="id_name">')[1].split("</label>")[0]
    assert label == 'Integration name<span class="required" aria-hidden="true">*</span>'
    assert 'maxlength="120"' not in page  # too long is said, not cut
