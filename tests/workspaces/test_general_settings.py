from __future__ import annotations

from aharally.records.models import Release
from aharally.workspaces.models import Workspace
from tests.factories import make_feature, make_workspace


def test_an_owner_renames_the_workspace(client, cast):
    client.force_login(cast.owner)
    response = client.post("/w/PLAT/settings/", {"name": "Platform team", "prefix": "PLAT"})
    assert response.status_code == 302
    assert Workspace.objects.get(pk=cast.workspace.pk).name == "Platform team"


def test_the_prefix_may_change_while_no_record_uses_it(client, cast):
    client.force_login(cast.owner)
    response = client.post("/w/PLAT/settings/", {"name": "Platform", "prefix": "core"})
    assert response["Location"] == "/w/CORE/settings/"
    assert Workspace.objects.get(pk=cast.workspace.pk).prefix == "CORE"
    # The parking lot's reference follows the new prefix.
    assert Release.objects.get(workspace=cast.workspace).reference == "CORE-R-1"


def test_the_prefix_is_fixed_once_records_carry_it(client, cast):
    make_feature(cast.workspace)
    client.force_login(cast.owner)
    page = client.get("/w/PLAT/settings/").content.decode()
    assert "disabled" in page and "Fixed" in page
    client.post("/w/PLAT/settings/", {"name": "Platform", "prefix": "CORE"})
    # A disabled field ignores what is posted: the prefix stays.
    assert Workspace.objects.get(pk=cast.workspace.pk).prefix == "PLAT"


def test_a_prefix_used_by_another_workspace_is_refused(client, cast):
    client.force_login(cast.owner)
    response = client.post("/w/PLAT/settings/", {"name": "Platform", "prefix": "ELSE"})
    assert "already used by another workspace" in response.content.decode()
    assert Workspace.objects.get(pk=cast.workspace.pk).prefix == "PLAT"


def test_an_invalid_prefix_is_refused_and_the_name_is_not_saved_half_way(client, cast):
    client.force_login(cast.owner)
    response = client.post("/w/PLAT/settings/", {"name": "Renamed", "prefix": "9X"})
    assert "capital letters" in response.content.decode()
    workspace = Workspace.objects.get(pk=cast.workspace.pk)
    assert (workspace.name, workspace.prefix) == ("Platform", "PLAT")


def test_an_empty_name_is_refused(client, cast):
    client.force_login(cast.owner)
    response = client.post("/w/PLAT/settings/", {"name": "", "prefix": "PLAT"})
    assert "This field is required" in response.content.decode()


def test_settings_of_one_workspace_do_not_touch_another(client, cast):
    other = make_workspace("Third", "THRD", owner=cast.owner)
    client.force_login(cast.owner)
    client.post("/w/THRD/settings/", {"name": "Third renamed", "prefix": "THRD"})
    assert Workspace.objects.get(pk=other.pk).name == "Third renamed"
    assert Workspace.objects.get(pk=cast.workspace.pk).name == "Platform"
