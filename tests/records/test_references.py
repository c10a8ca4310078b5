from __future__ import annotations

import pytest

from aharally.records.models import Feature, Release
from tests.factories import make_feature, make_requirement, make_workspace


@pytest.mark.django_db
def test_references_follow_the_workspace_prefix():
    workspace = make_workspace("Platform", "PLAT")
    first = make_feature(workspace)
    second = make_feature(workspace)
    requirement = make_requirement(second)
    assert (first.reference, second.reference) == ("PLAT-1", "PLAT-2")
    assert requirement.reference == "PLAT-2-1"


@pytest.mark.django_db
def test_a_deleted_features_number_is_never_reused():
    workspace = make_workspace("Platform", "PLAT")
    make_feature(workspace)
    doomed = make_feature(workspace)
    doomed.delete()
    assert make_feature(workspace).reference == "PLAT-3"
    assert Feature.objects.filter(workspace=workspace).count() == 2


@pytest.mark.django_db
def test_every_workspace_starts_with_a_parking_lot():
    workspace = make_workspace("Platform", "PLAT")
    releases = Release.objects.filter(workspace=workspace)
    assert [(r.name, r.is_parking_lot, r.reference) for r in releases] == [
        ("Parking lot", True, "PLAT-R-1")
    ]
