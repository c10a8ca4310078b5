"""Acceptance 3: a grant revoked in Rally gives one "needs re-authorization" e-mail to each
owner, however often the sync meets the refusal, linking to where it is fixed."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests

from aharally.alerts import checks
from aharally.alerts.models import AlertKind, Episode, Notification
from aharally.integrations.models import AuthMethod
from aharally.integrations.wizard import services
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from tests.factories import make_feature
from tests.integrations.wizard_support import PM_LOGIN, rally_consent, step_url
from tests.sync.support import connect, token

pytestmark = pytest.mark.django_db(transaction=True)


def _csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def revoke_every_grant(sandbox) -> int:
    """What pm@example.com does in Rally: Authorized applications → Revoke."""
    browser = requests.Session()
    browser.trust_env = False
    page = browser.get(sandbox.base_url + "/login/oauth2/applications", timeout=10)
    signed_in = browser.post(
        page.url,
        data={
            "csrfmiddlewaretoken": _csrf(page.text),
            "username": PM_LOGIN[0],
            "password": PM_LOGIN[1],
            "next": "/login/oauth2/applications",
        },
        headers={"Referer": page.url},
        timeout=10,
    )
    actions = re.findall(r'action="([^"]*/revoke)"', signed_in.text)
    for action in actions:
        answer = browser.post(
            sandbox.base_url + action,
            data={"csrfmiddlewaretoken": _csrf(signed_in.text)},
            headers={"Referer": signed_in.url},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text[:300]
    return len(actions)


@pytest.fixture
def oauth_integration(cast, rally_sandbox, wizard_settings, owner_client):
    """Enabled, then authorized with OAuth as pm@example.com through the settings' step."""
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    start = owner_client.post(step_url(integration, "oauth_start"))["Location"]
    callback = urlsplit(rally_consent(start))
    owner_client.get(callback.path + "?" + callback.query)
    integration.refresh_from_db()
    assert integration.auth_method == AuthMethod.OAUTH
    assert not integration.needs_reauthorization
    return integration


def test_a_revoked_grant_gives_one_email_to_each_owner_with_where_to_fix_it(
    oauth_integration, rally_sandbox, cast, second_owner, mailoutbox, settings
):
    integration = oauth_integration
    assert revoke_every_grant(rally_sandbox) >= 1
    for n in range(3):  # three sends meet the refusal, then the schedule looks too
        feature = make_feature(cast.workspace, name=f"Refused {n} {token()}")
        outbox.request_send(record=feature, integration=integration, user=cast.contributor)
        drain_outbox(integration.pk)
    checks.evaluate_all()
    checks.evaluate_all()

    integration.refresh_from_db()
    assert integration.needs_reauthorization
    assert sorted(m.to[0] for m in mailoutbox) == sorted([cast.owner.email, second_owner.email])
    fix = f"/w/{cast.workspace.prefix}/settings/integrations/{integration.pk}/"
    for mail in mailoutbox:
        assert "needs re-authorization" in mail.subject
        assert f"{settings.SITE_URL}{fix}" in mail.body
        assert "Re-authorize" in mail.body
    notes = Notification.objects.filter(kind=AlertKind.NEEDS_REAUTHORIZATION)
    assert notes.count() == 2
    assert {n.url for n in notes} == {fix}

    # Authorized again: the episode ends, and a later refusal is a new one, said again.
    services.store_authorization(
        integration=integration,
        authorization=services.Authorization(
            auth_method=AuthMethod.API_KEY,
            rally_user_name="pm@example.com",
            api_key=rally_sandbox.api_key,
        ),
        user=cast.owner,
    )
    assert Episode.objects.get().closed_at is not None
    checks.evaluate_all()
    assert len(mailoutbox) == 2
