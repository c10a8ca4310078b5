"""The thread of a linked record says where each comment and file stands in Rally."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aharally.discussion import services
from aharally.integrations.models import OutgoingMode
from aharally.sync.outgoing.drain import drain_outbox
from tests.discussion.support import HTMX
from tests.sync.support import connect, token
from tests.sync.test_discussion_push import linked_feature

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "attachments")


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def thread(client, feature) -> str:
    html = client.get(f"/w/PLAT/features/{feature.reference}/", headers=HTMX).content.decode()
    return html.split('class="discussion"')[1].split("</section>")[0]


def test_in_rally_waiting_and_refused_are_said_beside_each(
    client, cast, rally_sandbox, integration, settings
):
    settings.ATTACHMENT_MAX_BYTES = 60_000_000
    feature, link = linked_feature(cast, integration, token())
    services.create_comment(record=feature, body="Sent one", user=cast.owner)
    drain_outbox(integration.pk)
    integration.outgoing_mode = OutgoingMode.APPROVE
    integration.save(update_fields=["outgoing_mode"])
    services.create_comment(record=feature, body="Waiting one", user=cast.owner)

    class Big(ContentFile):
        size = property(lambda self: 50_000_001, lambda self, value: None)

    services.add_attachment(record=feature, upload=Big(b"x", name="huge.bin"), user=cast.owner)

    client.force_login(cast.contributor)
    html = thread(client, feature)
    assert f"In Rally ({link.formatted_id})" in html
    assert "Waiting for approval to go to Rally" in html
    assert "Not sent to Rally: huge.bin not sent" not in html  # said once, as the row says
    assert "Not sent to Rally: the file is 50,000,001 bytes" in html
    assert "Editing a comment here updates its post there" in html


def test_the_notes_add_constant_queries_at_2_and_50(client, cast, rally_sandbox, integration):
    few, _ = linked_feature(cast, integration, token())
    many, _ = linked_feature(cast, integration, token())
    for feature, n in ((few, 2), (many, 50)):
        for i in range(n):
            services.create_comment(record=feature, body=f"c{i}", user=cast.owner)
            services.add_attachment(
                record=feature, upload=ContentFile(b"x", name=f"f{i}.txt"), user=cast.owner
            )
    drain_outbox(integration.pk)
    client.force_login(cast.contributor)

    def queries(feature) -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get(f"/w/PLAT/features/{feature.reference}/", headers=HTMX)
        return len(captured)

    queries(few)
    assert queries(few) == queries(many)
    assert thread(client, many).count("In Rally (") == 100
