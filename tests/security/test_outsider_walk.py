"""Every URL pattern of the URLconf, with real ids of a workspace, walked as anonymous, an
outsider and a viewer, GET and POST: a sign-in redirect, 403, 404 or 405, never a change.

The patterns come from the URLconf, so a new URL is walked as soon as it exists. Its kwargs are
filled by name (`KWARG_VALUES`, or `<model>_id` for any model); an unknown name fails loudly:
add it below.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.exceptions import FieldError
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from aharally.alerts.models import Notification
from aharally.discussion.models import Attachment
from aharally.discussion.services import create_comment
from aharally.records.services import create_epic, create_initiative, create_release
from aharally.sync.models import Comparison, RallySearch, SendJob
from aharally.workspaces import custom_fields
from aharally.workspaces.members import invitation_token, invite_member
from aharally.workspaces.models import Membership, Role, WorkflowStatus
from tests.factories import make_feature, make_requirement
from tests.integrations.builders import configured_integration

pytestmark = pytest.mark.django_db

# Public by design (allauth's sign-in pages, Django's admin with its own staff check).
SKIPPED_PREFIXES = ("accounts/", "admin/", "favicon.ico")
# Open to anyone signed in, whatever their workspaces (only the anonymous walk applies).
OPEN_TO_SIGNED_IN = {
    "home",
    "workspaces:create",
    "workspaces:invitation",
    "integrations:oauth_callback",
    # Everyone's own queue; deciding on another workspace's change is refused
    # (tests/sync/test_views.py), and a bad action says so (422) without a change.
    "sync:integration_updates",
    "sync:decide",
    # Everyone's own notifications and preferences; following someone else's is a 404
    # (below, and tests/alerts/test_views.py).
    "alerts:notifications",
    "alerts:mark",
    "alerts:preferences",
}
# Kwargs that name something of the victim's workspace (used again with the outsider's prefix).
VICTIM_IDS = {
    "reference",
    "number",
    "integration_id",
    "mapping_id",
    "field_mapping_id",
    "membership_id",
    "invitation_id",
    "status_id",
    "record_id",
    "job_id",
    "rally_search_id",
    "comment_id",
    "attachment_id",
}
GENERIC_POST = {
    "name": "Walked in",
    "role": "owner",
    "email": "walker@example.com",
    "rally_url": "https://rally1.rallydev.com",
    "api_key": "_WalkerKey0123456789012345678901234567",
    "ids": ["1", "2", "3"],
    "action": "move",
    "outgoing_mode": "automatic",
    "incoming_mode": "automatic",
}
ANONYMOUS_OK = {302, 403, 404, 405}
REFUSED = {403, 404, 405}


def walk(patterns=None, prefix="", namespace=""):
    """(route, name, kwarg names) for every pattern the URLconf serves."""
    patterns = get_resolver().url_patterns if patterns is None else patterns
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = ":".join(x for x in (namespace, pattern.namespace or "") if x)
            yield from walk(pattern.url_patterns, route, inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            yield route, name, list(pattern.pattern.regex.groupindex)


class Victim:
    """A workspace with one of everything, owned by someone else."""

    def __init__(self, cast):
        self.workspace = cast.workspace
        owner = cast.owner
        self.release = create_release(workspace=self.workspace, name="R1")
        self.initiative = create_initiative(workspace=self.workspace, name="Victim-initiative-I1")
        self.epic = create_epic(workspace=self.workspace, name="E1")
        # Names no random token (a CSRF token on every page) can contain by chance.
        self.feature = make_feature(self.workspace, name="Victim-feature-F1")
        self.requirement = make_requirement(self.feature, name="Q1")
        self.integration = configured_integration(self.workspace)
        self.mapping = self.integration.record_mappings.first()
        self.membership = Membership.objects.get(workspace=self.workspace, user=cast.contributor)
        self.invitation = invite_member(
            workspace=self.workspace, email="invited@example.com", role=Role.OWNER, invited_by=owner
        )
        self.status = WorkflowStatus.objects.filter(workspace=self.workspace).first()
        self.job = SendJob.objects.create(
            workspace=self.workspace, integration=self.integration, label="Victim's send"
        )
        # Import from Rally's search and Compare with Rally's report (owners only).
        self.search = RallySearch.objects.create(
            integration=self.integration, text="Victim", state="done"
        )
        Comparison.objects.create(integration=self.integration, state="done")
        # A custom field of features, with a choice.
        self.custom_field = custom_fields.add_custom_field(
            workspace=self.workspace,
            record_type="feature",
            name="Victim risk",
            kind="choice",
            choices=["Low"],
        )
        self.choice = self.custom_field.choices.first()
        # A comment and an attachment on the feature (the row only: no file is written).
        create_comment(record=self.feature, body="Victim's comment", user=owner)
        Attachment.objects.create(
            workspace=self.workspace,
            record_type=self.feature.record_type,
            record_id=self.feature.pk,
            file="attachments/victim-file",
            name="victim.txt",
            size=1,
            mime_type="text/plain",
            uploaded_by=owner,
        )
        # The owner's notification (only the owner may follow it).
        Notification.objects.create(
            user=owner, workspace=self.workspace, kind="failures", title="Victim's", url="/"
        )

    def reference_for(self, url_name: str) -> str:
        for kind in ("initiative", "epic", "release"):
            if kind in url_name:
                return getattr(self, kind).reference
        if url_name.endswith("requirement_edit"):
            return self.requirement.reference
        return self.feature.reference

    def value(self, kwarg: str, url_name: str, prefix: str):
        values = {
            "prefix": lambda: prefix,
            "reference": lambda: self.reference_for(url_name),
            "number": lambda: self.requirement.number,
            "integration_id": lambda: self.integration.pk,
            "mapping_id": lambda: self.mapping.pk,
            "field_mapping_id": lambda: self.mapping.field_mappings.first().pk,
            "membership_id": lambda: self.membership.pk,
            "invitation_id": lambda: self.invitation.pk,
            "status_id": lambda: self.status.pk,
            "record_type": lambda: "feature",
            "record_id": lambda: self.feature.pk,
            "job_id": lambda: self.job.pk,
            "field_id": lambda: self.custom_field.pk,
            "choice_id": lambda: self.choice.pk,
            "secret": lambda: "not-the-webhook-secret",
            "token": lambda: invitation_token(self.invitation),
        }
        if kwarg in values:
            return values[kwarg]()
        if kwarg.endswith("_id"):  # any model: one of its rows in the victim's workspace
            wanted = kwarg[:-3].replace("_", "")
            for model in apps.get_models():
                if model._meta.model_name == wanted:
                    row = _row_of(model, self.workspace)
                    if row is None:
                        pytest.fail(
                            f"Make a {model.__name__} in Victim for <{kwarg}> ({url_name})."
                        )
                    return row.pk
        pytest.fail(f"Unknown URL kwarg <{kwarg}> in {url_name}: add a real value to Victim.value.")


def _row_of(model, workspace):
    for path in ("workspace", "integration__workspace", "link__integration__workspace"):
        try:
            return model.objects.filter(**{path: workspace}).first()
        except FieldError:  # the path does not exist on this model
            continue
    return None


def snapshot() -> dict[str, list]:
    """Every row of every model (sessions aside): compared before and after the walk."""
    rows = {}
    for model in apps.get_models():
        if model._meta.label in ("sessions.Session",):
            continue
        rows[model._meta.label] = sorted(
            (str(sorted(row.items())) for row in model.objects.values()), key=str
        )
    return rows


def _urls(victim, *, prefix: str, only_victim_ids: bool = False):
    for route, name, kwargs in walk():
        if route.startswith(SKIPPED_PREFIXES):
            continue
        if only_victim_ids and not VICTIM_IDS & set(kwargs):
            continue
        values = {kwarg: victim.value(kwarg, name, prefix) for kwarg in kwargs}
        yield name, reverse(name, kwargs=values) if values else reverse(name)


def _answers(client, url):
    return [
        ("GET", client.get(url)),
        ("POST", client.post(url, GENERIC_POST)),
        ("HX-POST", client.post(url, GENERIC_POST, headers={"HX-Request": "true"})),
    ]


def test_the_walk_covers_every_url_pattern_and_fills_every_kwarg(cast):
    victim = Victim(cast)
    names = [name for name, _ in _urls(victim, prefix="PLAT")]
    assert len(names) >= 60
    assert {"records:board", "integrations:wizard_mapping_fields", "workspaces:change_role"} <= set(
        names
    )
    assert {"sync:search_results", "sync:import_chosen", "sync:compare_resolve"} <= set(names)


def test_anonymous_is_sent_to_sign_in_and_changes_nothing(client, cast):
    victim = Victim(cast)
    before = snapshot()
    for name, url in _urls(victim, prefix="PLAT"):
        for method, response in _answers(client, url):
            if method == "HX-POST" and "HX-Redirect" in response:
                # HTMX is sent to sign in as a whole page (aharally.errors.SignInAsAPage)
                assert response["HX-Redirect"].startswith("/accounts/"), (method, name, url)
                assert response.content == b"", (method, name, url)
                continue
            assert response.status_code in ANONYMOUS_OK, (method, name, url, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith("/accounts/"), (method, name, url)
    assert snapshot() == before


def test_an_outsider_gets_nothing_with_the_workspaces_ids_and_changes_nothing(client, cast):
    victim = Victim(cast)
    client.force_login(cast.outsider)
    before = snapshot()
    walked = 0
    # The victim's prefix, and the outsider's own prefix with the victim's ids in it.
    for prefix, only_ids in (("PLAT", False), (cast.other_workspace.prefix, True)):
        for name, url in _urls(victim, prefix=prefix, only_victim_ids=only_ids):
            if name in OPEN_TO_SIGNED_IN:
                continue
            for method, response in _answers(client, url):
                walked += 1
                assert response.status_code in REFUSED, (method, name, url, response.status_code)
                assert b"Victim-feature" not in response.content
                assert b"Victim-initiative" not in response.content
    assert walked > 200
    assert snapshot() == before


def test_a_viewer_reads_but_never_changes_or_configures(client, cast):
    victim = Victim(cast)
    client.force_login(cast.viewer)
    before = snapshot()
    for name, url in _urls(victim, prefix="PLAT"):
        if name in OPEN_TO_SIGNED_IN:
            continue
        for method, response in _answers(client, url):
            status = response.status_code
            if "/settings/" in url:  # configuration: not even to look at
                assert status in REFUSED, (method, name, url, status)
            elif method == "GET":  # a viewer may read
                assert status in {200, 302, *REFUSED}, (method, name, url, status)
            else:  # a read-only page may answer a POST with itself, never with a change
                assert status in {200, *REFUSED}, (method, name, url, status)
    assert snapshot() == before
