"""The audit log: who changed the configuration, authorized, edited a template; owners see it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from aharally.integrations import lifecycle
from aharally.integrations.templates_service import use_as_template
from aharally.workspaces.audit import record_audit
from aharally.workspaces.models import AuditAction, AuditEntry
from tests.integrations.builders import configured_integration
from tests.integrations.wizard_support import authorized

pytestmark = pytest.mark.django_db
AUDIT = "/w/PLAT/settings/audit/"


def test_authorizing_configuring_and_template_edits_are_recorded_with_who(
    cast, rally_sandbox, wizard_settings
):
    authorized(cast.workspace, cast.owner, rally_sandbox)
    entries = list(AuditEntry.objects.filter(workspace=cast.workspace).order_by("id"))
    assert [e.action for e in entries] == [AuditAction.CONFIGURATION, AuditAction.AUTHORIZATION]
    assert entries[1].actor == cast.owner and "API key" in entries[1].detail
    assert rally_sandbox.api_key not in entries[1].detail

    configured = configured_integration(cast.workspace, name="Configured")
    use_as_template(integration=configured, by=cast.owner)
    lifecycle.disable_integration(integration=configured, by=cast.owner)
    latest = AuditEntry.objects.filter(workspace=cast.workspace).order_by("-id")[:2]
    assert [(e.action, e.detail) for e in latest] == [
        (AuditAction.CONFIGURATION, "Disabled"),
        (AuditAction.TEMPLATE, "Marked as an integration template"),
    ]


def test_a_template_mapping_edit_through_the_wizard_is_a_template_edit(client, cast):
    integration = configured_integration(cast.workspace)
    use_as_template(integration=integration, by=cast.owner)
    mapping = integration.record_mappings.get(record_type="feature")
    client.force_login(cast.owner)
    url = reverse(
        "integrations:wizard_mapping_fields",
        kwargs={"prefix": "PLAT", "integration_id": integration.pk, "mapping_id": mapping.pk},
    )
    client.post(url, {"description": "both"})
    entry = AuditEntry.objects.latest("id")
    assert entry.action == AuditAction.TEMPLATE and entry.actor == cast.owner
    assert "Field mappings of Feature saved" in entry.detail


def test_owners_see_the_log_and_no_one_else_does(client, cast):
    record_audit(
        workspace=cast.workspace,
        actor=cast.reviewer,
        action=AuditAction.APPROVAL,
        target="PLAT-12 → Rally",
        detail="Name, Status",
    )
    client.force_login(cast.owner)
    page = client.get(AUDIT).content.decode()
    assert "reviewer@example.com" in page and "Approval" in page and "PLAT-12 → Rally" in page
    for person in (cast.contributor, cast.reviewer, cast.viewer):
        client.force_login(person)
        assert client.get(AUDIT).status_code == 403
    client.force_login(cast.outsider)
    assert client.get(AUDIT).status_code == 404


def test_an_unknown_action_is_refused():
    with pytest.raises(ValueError, match="Unknown audit action"):
        record_audit(workspace=None, actor=None, action="hacked")
