"""`rows.insert_one`: `save()` of a new instance with its INSERT written once per model (a
send inserts a link and a history line for each object it creates)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from aharally.integrations.models import Integration
from aharally.records.rows import insert_one
from aharally.sync.models import Activity, Link
from tests.factories import make_feature, make_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(cast):
    return Integration.objects.create(
        workspace=cast.workspace, name="Rally", rally_url="https://rally1.rallydev.com"
    )


def _columns(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_an_inserted_row_reads_back_as_saved_with_its_key_and_creation_time(cast, integration):
    feature = make_feature(cast.workspace)
    fields = {
        "integration": integration, "record_type": feature.record_type,
        "record_id": feature.pk, "action": "created", "detail": "F7 in Rally",
        "user_id": cast.owner.pk,
    }  # fmt: skip

    inserted = insert_one(Activity(**fields))
    saved = Activity.objects.create(**fields)

    assert inserted.pk is not None and inserted.pk != saved.pk
    assert inserted.at is not None
    assert inserted._state.adding is False and inserted._state.db == "default"
    read = Activity.objects.get(pk=inserted.pk)
    assert _columns(read) == _columns(inserted)
    assert {k: v for k, v in _columns(read).items() if k not in ("id", "at")} == {
        k: v for k, v in _columns(saved).items() if k not in ("id", "at")
    }


def test_a_json_field_is_stored_as_json(cast, integration):
    feature = make_feature(cast.workspace)
    baseline = {"name": "Checkout", "_Parent": "/portfolioitem/epic/5", "estimate": 3.5}

    link = insert_one(
        Link(
            integration=integration, record_type=feature.record_type, record_id=feature.pk,
            rally_site=integration.rally_site, rally_type="PortfolioItem/Feature", rally_oid=42,
            url="https://rally1.rallydev.com/#/detail/x/42", formatted_id="F42",
            baseline=baseline,
        )
    )  # fmt: skip

    assert Link.objects.get(pk=link.pk).baseline == baseline


def test_a_refused_row_raises_integrity_error_as_save_does(cast, integration):
    feature = make_feature(cast.workspace)
    make_link(integration, feature, rally_oid=42, rally_site=integration.rally_site)

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_one(
            Link(
                integration=integration, record_type=feature.record_type,
                record_id=feature.pk, rally_site=integration.rally_site,
                rally_type="PortfolioItem/Feature", rally_oid=43,
            )
        )  # fmt: skip
    assert Link.objects.filter(record_id=feature.pk).count() == 1
