"""The integration pages say when the task cluster is down or stuck, instead of looking well:
each integration's state is how it is set, not proof that anything syncs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from aharally.ops.heartbeat import beat
from tests.integrations.builders import configured_integration

pytestmark = pytest.mark.django_db

STUCK = "The task cluster has taken no task"
DOWN = "The task cluster is not running"


@pytest.fixture
def pages(client, cast, settings):
    settings.CLUSTER_STALL_SECONDS = 20
    integration = configured_integration(cast.workspace, name="Platform Rally")
    client.force_login(cast.owner)
    prefix = cast.workspace.prefix
    urls = [
        reverse("integrations:index", kwargs={"prefix": prefix}),
        reverse("integrations:manage", kwargs={"prefix": prefix}),
        reverse(
            "integrations:settings", kwargs={"prefix": prefix, "integration_id": integration.pk}
        ),
    ]
    return lambda: [client.get(url).content.decode() for url in urls]


def test_the_pages_say_nothing_of_a_cluster_that_takes_its_tasks(pages):
    beat("well", progress_age=5, waiting=2)
    for html in pages():
        assert STUCK not in html and DOWN not in html


def test_each_page_says_the_cluster_is_stuck_while_tasks_wait_and_none_is_taken(pages):
    beat("stuck", progress_age=45, waiting=3)
    for html in pages():
        assert STUCK in html
        assert "Enabled" in html  # how it is set, shown beside the notice


def test_one_cluster_at_work_is_enough_when_another_is_stuck(pages):
    beat("stuck", progress_age=45, waiting=3)
    beat("well")
    for html in pages():
        assert STUCK not in html


def test_each_page_says_when_no_cluster_runs(pages):
    for html in pages():
        assert DOWN in html
