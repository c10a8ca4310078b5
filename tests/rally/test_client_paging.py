"""Lazy paging at Rally's largest page size, counted in HTTP requests."""

from __future__ import annotations

import pytest

from aharally.rally import BatchEntry, where
from tests.rally.conftest import RequestLog, engineering_ref, make_client
from tests.sandbox import RallySandbox

pytestmark = pytest.mark.sandbox_only

STORY_COUNT = 5000


@pytest.fixture(scope="module")
def crowded_sandbox():
    """A sandbox of its own holding 5,000 extra stories (kept out of the shared one)."""
    with RallySandbox() as sandbox:
        with make_client(sandbox) as client:
            client.workspace = engineering_ref(client)
            project = client.query("Project", query=where("Name", "=", "Mobile")).first()
            for first in range(0, STORY_COUNT, 500):
                entries = [
                    BatchEntry.create(
                        "HierarchicalRequirement",
                        {"Name": f"bulk story {n:05d}", "Project": project.ref.path},
                    )
                    for n in range(first, first + 500)
                ]
                assert all(result.ok for result in client.batch(entries))
        yield sandbox


def test_listing_5000_stories_takes_exactly_3_requests(crowded_sandbox):
    with make_client(crowded_sandbox) as client:
        client.workspace = engineering_ref(client)
        log = RequestLog(client)
        results = client.query(
            "HierarchicalRequirement",
            query=where("Name", "contains", "bulk story"),
            fetch=["Name"],
            order="Name",
        )
        names = [story.name for story in results]
    assert len(names) == STORY_COUNT
    assert names[0] == "bulk story 00000" and names[-1] == "bulk story 04999"
    assert len(set(names)) == STORY_COUNT
    assert len(log) == 3
    starts = [path.split("start=")[1].split("&")[0] for _, path in log.sent]
    assert starts == ["1", "2001", "4001"]
    assert all("pagesize=2000" in path for _, path in log.sent)


def test_nothing_is_requested_until_results_are_used_and_only_as_far_as_needed(crowded_sandbox):
    with make_client(crowded_sandbox) as client:
        client.workspace = engineering_ref(client)
        log = RequestLog(client)
        results = client.query("HierarchicalRequirement", query=where("Name", "contains", "bulk"))
        assert len(log) == 0
        assert results.total == STORY_COUNT
        assert len(log) == 1
        first_2500 = [story for _, story in zip(range(2500), results, strict=False)]
        assert len(first_2500) == 2500
        assert len(log) == 2  # the first page was kept; only the second was fetched


def test_streamed_pages_read_5000_stories_in_3_requests_asking_for_the_next_ahead(
    crowded_sandbox,
):
    """A catch-up's paging: each page read as its objects are used, the next one asked for
    (in another thread) as soon as this one's head says there is one."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.waiting import wait_until

    with make_client(crowded_sandbox) as client, ThreadPoolExecutor(1) as reader:
        client.workspace = engineering_ref(client)
        log = RequestLog(client)
        results = client.query(
            "HierarchicalRequirement",
            query=where("Name", "contains", "bulk story"),
            fetch=["Name"],
            order="Name",
        )
        names, asked_ahead = [], []
        for page in results.streamed_pages(ahead=reader.submit):
            if page.next_start is not None:
                # Asked for before a single object of this page is used.
                wait_until(lambda: len(log) == len(asked_ahead) + 2, timeout=30)
            asked_ahead.append(len(log))
            names += [story.name for story in page.objects()]
    assert names == [f"bulk story {n:05d}" for n in range(STORY_COUNT)]
    assert asked_ahead == [2, 3, 3]
    starts = [path.split("start=")[1].split("&")[0] for _, path in log.sent]
    assert starts == ["1", "2001", "4001"]
