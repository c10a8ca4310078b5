"""An integration built on a template: it only chooses its project; the rest follows live."""

from __future__ import annotations

import pytest
from django.urls import reverse

from aharally.integrations.models import Integration, IntegrationState, WizardStep
from aharally.statusmap import services as statusmap
from aharally.statusmap.models import StatusMap
from aharally.workspaces.models import WorkflowStatus
from tests.factories import make_workspace
from tests.integrations.wizard_support import project_oid, reach, scoped, step_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def template(owner_client, cast, rally_sandbox, wizard_settings):
    integration = scoped(cast.workspace, cast.owner, rally_sandbox)
    owner_client.get(step_url(integration, "mappings"))
    reach(integration, WizardStep.STATUSES)
    owner_client.get(step_url(integration, "statuses"))
    reach(integration, WizardStep.ENABLE)
    owner_client.post(
        step_url(integration, "enable"), {"outgoing_mode": "approve", "incoming_mode": "automatic"}
    )
    Integration.objects.filter(pk=integration.pk).update(is_template=True)
    return Integration.objects.get(pk=integration.pk)


def test_a_second_workspace_picks_the_template_and_only_chooses_its_project(
    owner_client, cast, template, rally_sandbox
):
    mobile = make_workspace("Mobile", "MOB", owner=cast.owner)
    new = reverse("integrations:wizard_new", kwargs={"prefix": mobile.prefix})
    response = owner_client.post(new, {"name": "Mobile ↔ Rally", "template": template.pk})
    derived = Integration.objects.get(workspace=mobile)
    assert response["Location"] == step_url(derived, "project")
    # The template's choices fit: fully configured already, its project preselected.
    assert derived.wizard_step == WizardStep.ENABLE
    assert derived.rally_project_name == "Platform"

    page = owner_client.get(step_url(derived, "project")).content.decode()
    assert "Platform \u2013 Team A" in page  # the template's Rally workspace
    response = owner_client.post(
        step_url(derived, "project"),
        {"project": project_oid(rally_sandbox, "Platform \u2013 Team A")},
    )
    assert response["Location"] == step_url(derived, "enable")

    page = owner_client.get(step_url(derived, "enable")).content.decode()
    assert "Before enabling" not in page  # fully configured by the template
    assert "Modes come from the template" in page
    response = owner_client.post(step_url(derived, "enable"), {})
    assert response.status_code == 302
    derived.refresh_from_db()
    assert derived.state == IntegrationState.ENABLED
    assert derived.rally_project_name == "Platform \u2013 Team A"
    assert derived.source.outgoing_mode == "approve"
    assert not derived.record_mappings.exists()  # nothing copied: read from the template


def test_a_derived_integration_shows_inherited_steps_read_only(owner_client, cast, template):
    mobile = make_workspace("Mobile", "MOB", owner=cast.owner)
    new = reverse("integrations:wizard_new", kwargs={"prefix": mobile.prefix})
    owner_client.post(new, {"name": "Mobile ↔ Rally", "template": template.pk})
    derived = Integration.objects.get(workspace=mobile)
    Integration.objects.filter(pk=derived.pk).update(wizard_step=WizardStep.ENABLE)
    page = owner_client.get(step_url(derived, "mappings")).content.decode()
    assert "These mappings belong to the template" in page
    assert "Add mapping" not in page
    add = owner_client.post(
        step_url(derived, "mapping_add"), {"record_type": "epic", "rally_type": "X"}
    )
    assert add.status_code == 404
    assert owner_client.post(step_url(derived, "oauth_start")).status_code == 404
    page = owner_client.get(step_url(derived, "authorize")).content.decode()
    assert "uses its template's authorization" in page


def test_a_change_to_the_templates_status_mapping_shows_in_both_integrations(
    owner_client, cast, template
):
    mobile = make_workspace("Mobile", "MOB", owner=cast.owner)
    new = reverse("integrations:wizard_new", kwargs={"prefix": mobile.prefix})
    owner_client.post(new, {"name": "Mobile ↔ Rally", "template": template.pk})
    derived = Integration.objects.get(workspace=mobile)
    Integration.objects.filter(pk=derived.pk).update(wizard_step=WizardStep.ENABLE)
    feature_map = StatusMap.objects.get(
        record_mapping__integration=template, record_mapping__record_type="feature"
    )
    shipped = WorkflowStatus.objects.get(
        workspace=cast.workspace, record_type="feature", name="Shipped"
    )
    statusmap.assign_state(status_map=feature_map, rally_state="Measuring", status_id=shipped.pk)
    for integration in (template, derived):
        page = owner_client.get(step_url(integration, "statuses")).content.decode()
        board = page[page.index('id="statuses-feature"') :]
        shipped_row = board[board.index(">Shipped<") :]
        assert 'data-state="Measuring"' in shipped_row[: shipped_row.index("</ul>")]
