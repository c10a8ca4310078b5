from __future__ import annotations

import pytest

from aharally.workspaces.errors import WorkspaceError
from aharally.workspaces.members import change_role, remove_member
from aharally.workspaces.models import Membership, Role


def _membership(cast, user):
    return Membership.objects.get(workspace=cast.workspace, user=user)


def test_the_members_page_lists_members_and_their_roles(client, cast):
    client.force_login(cast.owner)
    html = client.get("/w/PLAT/settings/members/").content.decode()
    for email in ("owner@", "contributor@", "reviewer@", "viewer@"):
        assert email in html
    assert "outsider@" not in html


def test_an_owner_changes_a_members_role(client, cast):
    client.force_login(cast.owner)
    membership = _membership(cast, cast.viewer)
    response = client.post(
        f"/w/PLAT/settings/members/{membership.pk}/role/", {"role": Role.CONTRIBUTOR}
    )
    assert response.status_code == 302
    assert _membership(cast, cast.viewer).role == Role.CONTRIBUTOR


def test_an_unknown_role_is_refused(client, cast):
    client.force_login(cast.owner)
    membership = _membership(cast, cast.viewer)
    response = client.post(f"/w/PLAT/settings/members/{membership.pk}/role/", {"role": "admin"})
    assert "Choose a role" in response.content.decode()
    assert _membership(cast, cast.viewer).role == Role.VIEWER


def test_an_owner_removes_a_member(client, cast):
    client.force_login(cast.owner)
    membership = _membership(cast, cast.reviewer)
    response = client.post(f"/w/PLAT/settings/members/{membership.pk}/remove/")
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_the_last_owner_cannot_be_demoted(client, cast):
    client.force_login(cast.owner)
    membership = _membership(cast, cast.owner)
    response = client.post(f"/w/PLAT/settings/members/{membership.pk}/role/", {"role": "viewer"})
    assert "needs an owner" in response.content.decode()
    assert _membership(cast, cast.owner).role == Role.OWNER


def test_the_last_owner_cannot_be_removed(client, cast):
    client.force_login(cast.owner)
    membership = _membership(cast, cast.owner)
    response = client.post(f"/w/PLAT/settings/members/{membership.pk}/remove/")
    assert "needs an owner" in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_an_owner_may_step_down_once_there_is_another_owner(cast):
    change_role(membership=_membership(cast, cast.contributor), role=Role.OWNER)
    change_role(membership=_membership(cast, cast.owner), role=Role.VIEWER)
    assert _membership(cast, cast.owner).role == Role.VIEWER
    with pytest.raises(WorkspaceError):
        remove_member(membership=_membership(cast, cast.contributor))


def test_a_member_of_another_workspace_cannot_be_changed_through_this_one(client, cast):
    client.force_login(cast.owner)
    foreign = Membership.objects.get(workspace=cast.other_workspace, user=cast.outsider)
    response = client.post(f"/w/PLAT/settings/members/{foreign.pk}/role/", {"role": "viewer"})
    assert response.status_code == 404
    assert Membership.objects.get(pk=foreign.pk).role == Role.OWNER


def test_an_htmx_role_change_gets_the_members_list_and_its_message(client, cast):
    client.force_login(cast.owner)
    membership = _membership(cast, cast.viewer)
    response = client.post(
        f"/w/PLAT/settings/members/{membership.pk}/role/",
        {"role": Role.CONTRIBUTOR},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert '<section id="members"' in html and 'id="invitations"' not in html
    assert '<div id="messages" hx-swap-oob="true">' in html
    assert "viewer@example.com is now Contributor." in html
    assert "is now Contributor" not in client.get("/w/PLAT/settings/").content.decode()


def test_an_htmx_unknown_role_gets_400_with_the_error_in_the_members_list(client, cast):
    client.force_login(cast.owner)
    membership = _membership(cast, cast.viewer)
    response = client.post(
        f"/w/PLAT/settings/members/{membership.pk}/role/", {"role": "admin"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "<html" not in html
    row = html[html.index(f'id="member-{membership.pk}"') :].split("</tr>")[0]
    assert "Choose a role." in row
    assert _membership(cast, cast.viewer).role == Role.VIEWER


def test_an_owner_stepping_down_through_htmx_is_sent_to_the_board(client, cast):
    change_role(membership=_membership(cast, cast.contributor), role=Role.OWNER)
    client.force_login(cast.owner)
    membership = _membership(cast, cast.owner)
    response = client.post(
        f"/w/PLAT/settings/members/{membership.pk}/role/",
        {"role": "viewer"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/w/PLAT/features/board/"
    assert _membership(cast, cast.owner).role == Role.VIEWER
