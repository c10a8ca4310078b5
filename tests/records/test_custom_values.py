"""Custom field values of records: drawer, pages, create forms, history, board filters."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aharally.records import custom
from aharally.records.hooks import _listeners
from aharally.records.models import CustomValue, Feature, RecordChange
from aharally.records.services import create_initiative, update_record
from aharally.workspaces import custom_fields
from aharally.workspaces.models import CustomFieldChoice
from tests.factories import make_feature, make_release, parking_lot
from tests.records.test_board import board_url, bulk_features, card_references
from tests.records.test_drawer import HTMX, feature_url, form_data


def add(workspace, name, kind, record_type="feature", **options):
    return custom_fields.add_custom_field(
        workspace=workspace, record_type=record_type, name=name, kind=kind, **options
    )


@pytest.fixture
def fields(cast):
    ws = cast.workspace
    return {
        "risk": add(ws, "Risk", "choice", choices=["Low", "Medium", "High"]),
        "platforms": add(ws, "Platforms", "choices", choices=["iOS", "Android", "Web"]),
        "customer": add(ws, "Customer", "text", help_text="Who asked for it"),
        "budget": add(ws, "Budget", "number"),
        "target": add(ws, "Target date", "date"),
        "spec": add(ws, "Spec", "url"),
        "notes": add(ws, "Notes", "rich_text"),
        "requested_by": add(ws, "Requested by", "member"),
    }


def pick(field, name):
    return CustomFieldChoice.objects.get(field=field, name=name)


def test_the_drawer_edits_every_kind_and_keeps_the_history(client, cast, fields):
    feature = make_feature(cast.workspace, name="Single sign-on")
    client.force_login(cast.contributor)
    html = client.get(feature_url(feature), headers=HTMX).content.decode()
    assert 'name="cf_risk"' in html
    assert "Who asked for it" in html
    ios, web = pick(fields["platforms"], "iOS"), pick(fields["platforms"], "Web")
    data = form_data(
        feature,
        cf_risk=pick(fields["risk"], "High").pk,
        cf_platforms=[ios.pk, web.pk],
        cf_customer="ACME",
        cf_budget="1200.50",
        cf_target_date="2027-03-31",
        cf_spec="example.com/spec",
        cf_notes="<p>Ask <b>legal</b></p><script>alert(1)</script>",
        cf_requested_by=cast.owner.pk,
    )
    response = client.post(feature_url(feature), data, headers=HTMX)
    assert response.status_code == 200
    assert "Saved." in response.content.decode()
    definitions = custom.definitions(cast.workspace.pk, "feature")
    values = custom.read_values(feature.pk, definitions)
    assert values["cf_risk"].name == "High"
    assert [c.name for c in values["cf_platforms"]] == ["iOS", "Web"]
    assert values["cf_customer"] == "ACME"
    assert values["cf_budget"] == Decimal("1200.5")
    assert values["cf_target_date"] == date(2027, 3, 31)
    assert values["cf_spec"] == "https://example.com/spec"
    assert values["cf_notes"] == "<p>Ask <b>legal</b></p>"
    assert values["cf_requested_by"] == cast.owner
    history = {c.field: c.new_value for c in RecordChange.objects.filter(object_id=feature.pk)}
    assert history["cf_risk"] == "High"
    assert history["cf_platforms"] == "iOS, Web"
    assert history["cf_budget"] == "1200.5"
    assert history["cf_notes"] == "Ask legal"
    # The history names the field as the layout does, and a second identical save adds nothing.
    html = client.get(feature_url(feature), headers=HTMX).content.decode()
    assert "Risk" in html and "Target date" in html
    client.post(feature_url(feature), data, headers=HTMX)
    assert RecordChange.objects.filter(object_id=feature.pk).count() == len(history)


def test_unchanged_custom_values_are_not_written_again(client, cast, fields):
    feature = make_feature(cast.workspace)
    update_record(feature, changes={"cf_risk": pick(fields["risk"], "Low"), "cf_budget": 13})
    client.force_login(cast.contributor)
    data = form_data(feature, cf_risk=pick(fields["risk"], "Low").pk, cf_budget="13.00")
    client.post(feature_url(feature), data, headers=HTMX)
    assert RecordChange.objects.filter(object_id=feature.pk).count() == 2


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("cf_budget", "123456789012345", "Out of range"),
        ("cf_budget", "a lot", "Enter a number"),
        ("cf_target_date", "31/03/2027", "Enter a date as YYYY-MM-DD."),
        ("cf_spec", "not a url", "Enter a valid URL."),
        ("cf_risk", "999999", "Choose one of the choices of Risk."),
        ("cf_requested_by", "999999", "Choose a member of this workspace."),
    ],
)
def test_bad_custom_input_is_refused_and_nothing_is_lost(client, cast, fields, field, value, says):
    feature = make_feature(cast.workspace, name="Keep me")
    update_record(feature, changes={"cf_customer": "ACME"})
    client.force_login(cast.contributor)
    data = form_data(feature, name="Renamed", cf_customer="Globex", **{field: value})
    response = client.post(feature_url(feature), data, headers=HTMX)
    assert response.status_code == 422
    assert says in response.content.decode()
    feature.refresh_from_db()
    assert feature.name == "Keep me"
    assert CustomValue.objects.get(record_id=feature.pk).text == "ACME"


def test_a_viewer_reads_the_custom_values(client, cast, fields):
    feature = make_feature(cast.workspace)
    update_record(feature, changes={"cf_customer": "ACME", "cf_risk": pick(fields["risk"], "High")})
    client.force_login(cast.viewer)
    html = client.get(feature_url(feature), headers=HTMX).content.decode()
    assert "<dt>Customer</dt><dd>ACME</dd>" in html
    assert "<dt>Risk</dt><dd>High</dd>" in html
    assert 'name="cf_risk"' not in html


def test_a_required_custom_field_left_empty_at_create_is_refused(client, cast):
    add(cast.workspace, "Customer", "text", required=True)
    client.force_login(cast.contributor)
    url = reverse("records:feature_create", kwargs={"prefix": "PLAT"})
    data = {"name": "Dark mode", "release": parking_lot(cast.workspace).pk}
    response = client.post(url, data)
    assert "required by the workspace&#x27;s custom layout" in response.content.decode()
    assert not Feature.objects.exists()
    response = client.post(url, {**data, "cf_customer": "ACME"})
    assert response.status_code == 302
    feature = Feature.objects.get()
    assert CustomValue.objects.get(record_id=feature.pk).text == "ACME"


def test_initiatives_have_custom_fields_on_their_forms_and_pages(client, cast):
    field = add(cast.workspace, "Theme", "choice", record_type="initiative", choices=["Growth"])
    client.force_login(cast.owner)
    response = client.post(
        reverse("records:initiative_create", kwargs={"prefix": "PLAT"}),
        {"name": "Grow", "cf_theme": pick(field, "Growth").pk},
    )
    assert response.status_code == 302
    initiative = create_initiative(workspace=cast.workspace, name="Other")
    page = reverse("records:initiative", kwargs={"prefix": "PLAT", "reference": "PLAT-I-1"})
    assert "<dt>Theme</dt><dd>Growth</dd>" in client.get(page).content.decode()
    assert custom.read_values(initiative.pk, [field])["cf_theme"] is None


def test_record_listeners_hear_custom_field_names(cast, fields):
    heard = []

    def listener(*, saved, **_):
        heard.extend(changed for _record, changed in saved)

    _listeners.append(listener)
    try:
        feature = make_feature(cast.workspace)
        update_record(feature, changes={"cf_customer": "ACME", "name": "New"})
    finally:
        _listeners.remove(listener)
    assert sorted(heard[-1]) == ["cf_customer", "name"]


def test_the_board_filters_by_a_choice_field(client, cast, fields):
    low, high = make_feature(cast.workspace), make_feature(cast.workspace)
    none = make_feature(cast.workspace)
    update_record(low, changes={"cf_risk": pick(fields["risk"], "Low")})
    update_record(high, changes={"cf_risk": pick(fields["risk"], "High")})
    client.force_login(cast.viewer)
    url = board_url(cast.workspace)
    html = client.get(url, {"cf_risk": pick(fields["risk"], "High").pk}).content.decode()
    assert card_references(html) == [high.reference]
    assert "Risk: High" in html
    assert card_references(client.get(url, {"cf_risk": "none"}).content.decode()) == [
        none.reference
    ]
    # A value that names no choice of the field is ignored, as other filters' are.
    other = add(cast.workspace, "Size", "choice", choices=["S"])
    html = client.get(url, {"cf_risk": pick(other, "S").pk}).content.decode()
    assert len(card_references(html)) == 3


def test_the_board_filters_by_a_member_field(client, cast, fields):
    mine = make_feature(cast.workspace)
    make_feature(cast.workspace)
    update_record(mine, changes={"cf_requested_by": cast.contributor})
    client.force_login(cast.viewer)
    html = client.get(board_url(cast.workspace), {"cf_requested_by": cast.contributor.pk})
    assert card_references(html.content.decode()) == [mine.reference]


def _queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(queries)


def test_a_custom_filter_keeps_the_boards_query_count_at_2000_features(client, cast, fields):
    releases = [make_release(cast.workspace, name=f"Release {i}") for i in (1, 2)]
    releases.append(parking_lot(cast.workspace))
    bulk_features(cast.workspace, releases, 2000, assignees=[cast.owner, cast.contributor])
    choices = list(fields["risk"].choices.all())
    pks = list(Feature.objects.values_list("pk", flat=True))
    CustomValue.objects.bulk_create(
        [CustomValue(field=fields["risk"], record_id=pk, choice=choices[pk % 3]) for pk in pks]
        + [CustomValue(field=fields["customer"], record_id=pk, text="ACME") for pk in pks[::4]],
        batch_size=500,
    )
    client.force_login(cast.contributor)
    url = board_url(cast.workspace)
    without = _queries(client, url)
    high = choices[2]
    with_filter = _queries(client, url, {"cf_risk": high.pk})
    with_two = _queries(client, url, {"cf_risk": high.pk, "cf_requested_by": "none"})
    with_text = _queries(client, url, {"cf_customer": "acme", "cf_platforms": "none"})
    assert without == with_filter == with_two == with_text
    html = client.get(url, {"cf_risk": high.pk}).content.decode()
    expected = CustomValue.objects.filter(choice=high).count()
    assert len(card_references(html)) == expected > 600


def test_requirements_carry_their_custom_fields_in_the_drawer(client, cast):
    from tests.factories import make_requirement
    from tests.records.test_drawer import requirement_url

    add(cast.workspace, "Component", "text", record_type="requirement")
    feature = make_feature(cast.workspace)
    requirement = make_requirement(feature, name="Before")
    update_record(requirement, changes={"cf_component": "API"})
    client.force_login(cast.contributor)
    drawer = client.get(feature_url(feature), headers=HTMX).content.decode()
    assert 'name="new-cf_component"' in drawer  # the add form
    prefix = f"req-{requirement.pk}"
    form = client.get(requirement_url(requirement) + "?edit", headers=HTMX).content.decode()
    assert f'name="{prefix}-cf_component" value="API"' in form
    # What the inline form posts: the value comes back as it was, and stays.
    client.post(
        requirement_url(requirement),
        {f"{prefix}-name": "After", f"{prefix}-cf_component": "API"},
        headers=HTMX,
    )
    definitions = custom.definitions(cast.workspace.pk, "requirement")
    assert custom.read_values(requirement.pk, definitions)["cf_component"] == "API"
    add_url = reverse(
        "records:add_requirement", kwargs={"prefix": "PLAT", "reference": feature.reference}
    )
    response = client.post(
        add_url,
        {"new-name": "New one", "new-cf_component": "UI"},
        headers=HTMX,
    )
    assert response.status_code == 200
    new = feature.requirements.get(name="New one")
    assert custom.read_values(new.pk, definitions)["cf_component"] == "UI"


def _count(client, feature) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(feature_url(feature), headers=HTMX)
    assert response.status_code == 200
    return len(queries)


def test_the_drawers_query_count_does_not_grow_with_the_number_of_custom_fields(client, cast):
    ws = cast.workspace
    feature = make_feature(ws)
    client.force_login(cast.contributor)
    add(ws, "Risk", "choice", choices=["Low"])
    add(ws, "Owner", "member")
    add(ws, "Customer", "text")
    update_record(feature, changes={"cf_customer": "ACME"})  # a history row of a custom field
    few = _count(client, feature)
    for i in range(8):
        add(ws, f"Choice {i}", "choices", choices=["A", "B"])
        add(ws, f"Person {i}", "member")
        add(ws, f"Number {i}", "number")
    update_record(feature, changes={"cf_person_3": cast.owner, "cf_number_5": 5})
    assert _count(client, feature) == few


def test_the_board_filters_by_the_words_of_a_text_field(client, cast, fields):
    acme, globex = make_feature(cast.workspace), make_feature(cast.workspace)
    make_feature(cast.workspace)
    update_record(acme, changes={"cf_customer": "ACME Corporation"})
    update_record(globex, changes={"cf_customer": "Globex"})
    client.force_login(cast.viewer)
    html = client.get(board_url(cast.workspace), {"cf_customer": " acme "}).content.decode()
    assert card_references(html) == [acme.reference]
    assert 'value="acme"' in html
    everything = client.get(board_url(cast.workspace), {"cf_customer": ""}).content.decode()
    assert len(card_references(everything)) == 3
