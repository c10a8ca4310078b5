from __future__ import annotations

import pytest
from django.core.management import call_command

from aharally.records.models import Epic, Feature, Initiative, Release, Requirement
from aharally.workspaces.models import Membership, Role, Workspace


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_described_in_the_readme():
    call_command("seed_demo")
    company = Workspace.objects.get(name="Company")
    platform = Workspace.objects.get(prefix="PLAT")
    assert Initiative.objects.filter(workspace=company).count() == 4
    releases = Release.objects.filter(workspace=platform)
    assert releases.filter(is_parking_lot=False).count() == 3
    assert releases.filter(is_parking_lot=True).count() == 1
    assert Epic.objects.filter(workspace=platform).count() == 6
    features = Feature.objects.filter(workspace=platform)
    assert features.count() == 40
    assert not features.filter(initiative__isnull=True).exists()
    assert set(features.values_list("initiative__workspace", flat=True)) == {company.pk}
    assert Requirement.objects.filter(workspace=platform).count() == 100
    roles = dict(
        Membership.objects.filter(workspace=platform).values_list("user__username", "role")
    )
    assert roles == {
        "alice": Role.OWNER,
        "bob": Role.CONTRIBUTOR,
        "carol": Role.REVIEWER,
        "dave": Role.VIEWER,
    }


@pytest.mark.django_db
def test_seed_demo_run_twice_creates_nothing_more(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    assert Feature.objects.count() == 40
    assert Requirement.objects.count() == 100
    assert Workspace.objects.count() == 2
    assert "aharally-demo" in capsys.readouterr().out


@pytest.mark.django_db
def test_demo_users_can_sign_in_with_the_documented_password(client):
    call_command("seed_demo")
    response = client.post(
        "/accounts/login/", {"login": "bob@example.com", "password": "aharally-demo"}
    )
    assert response.status_code == 302
    assert client.get("/").status_code in (200, 302)
    assert "_auth_user_id" in client.session
