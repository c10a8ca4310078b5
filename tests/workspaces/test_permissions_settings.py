"""Permission matrix for Settings → Workspace: only owners configure; outsiders get 404."""

from __future__ import annotations

import pytest

from aharally.workspaces.members import invite_member
from aharally.workspaces.models import (
    Invitation,
    Membership,
    RequiredField,
    Role,
    WorkflowStatus,
    Workspace,
)

ROLES = ["owner", "contributor", "reviewer", "viewer", "outsider"]
REFUSED = {"contributor": 403, "reviewer": 403, "viewer": 403, "outsider": 404}


def _state():
    """Everything a settings view could change, to compare before and after."""
    return (
        sorted(Workspace.objects.values_list("pk", "name", "prefix")),
        sorted(Membership.objects.values_list("pk", "role")),
        sorted(Invitation.objects.values_list("pk", "email")),
        sorted(WorkflowStatus.objects.values_list("pk", "name", "color", "position")),
        sorted(RequiredField.objects.values_list("pk", "field_name")),
    )


def _cases(cast):
    viewer = Membership.objects.get(workspace=cast.workspace, user=cast.viewer)
    invitation = invite_member(
        workspace=cast.workspace, email="later@example.com", role=Role.VIEWER, invited_by=None
    )
    statuses = list(
        WorkflowStatus.objects.filter(workspace=cast.workspace, record_type="feature").order_by(
            "position"
        )
    )
    shipped = statuses[4]
    edit = {
        f"status-{shipped.pk}-name": "Released",
        f"status-{shipped.pk}-category": "done",
        f"status-{shipped.pk}-color": "#00aa00",
    }
    add = {
        "add-feature-name": "Beta",
        "add-feature-category": "done",
        "add-feature-color": "#00aa00",
    }
    s = "/w/PLAT/settings/"
    return {
        "general": (s, {"name": "Renamed", "prefix": "PLAT"}),
        "change_role": (f"{s}members/{viewer.pk}/role/", {"role": "contributor"}),
        "remove_member": (f"{s}members/{viewer.pk}/remove/", {}),
        "invite": (f"{s}invitations/", {"email": "new@example.com", "role": "viewer"}),
        "cancel_invitation": (f"{s}invitations/{invitation.pk}/cancel/", {}),
        "add_status": (f"{s}workflows/feature/add/", add),
        "edit_status": (f"{s}statuses/{shipped.pk}/", edit),
        "move_status": (f"{s}statuses/{shipped.pk}/move/", {"direction": "up"}),
        "delete_status": (f"{s}statuses/{shipped.pk}/delete/", {}),
        "save_layout": (f"{s}layouts/feature/", {"feature-required": ["assignee"]}),
    }


CASES = [
    "general",
    "change_role",
    "remove_member",
    "invite",
    "cancel_invitation",
    "add_status",
    "edit_status",
    "move_status",
    "delete_status",
    "save_layout",
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES)
def test_only_owners_change_workspace_settings(client, cast, case, role):
    url, data = _cases(cast)[case]
    before = _state()
    client.force_login(getattr(cast, role))
    response = client.post(url, data)
    if role == "owner":
        assert response.status_code == 302, response.content.decode()[:3000]
        assert _state() != before
    else:
        assert response.status_code == REFUSED[role]
        assert _state() == before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "path", ["", "members/", "workflows/", "layouts/"], ids=["general", "members", "w", "l"]
)
def test_only_owners_see_the_settings_pages(client, cast, role, path):
    client.force_login(getattr(cast, role))
    response = client.get(f"/w/PLAT/settings/{path}")
    assert response.status_code == (200 if role == "owner" else REFUSED[role])


@pytest.mark.parametrize("role", ROLES)
def test_the_settings_link_shows_for_owners_only(client, cast, role):
    client.force_login(getattr(cast, role))
    response = client.get("/w/PLAT/releases/")
    if role == "outsider":
        assert response.status_code == 404
    else:
        assert ('href="/w/PLAT/settings/"' in response.content.decode()) == (role == "owner")
