"""Sequences the state machine (or its soak) once found to break an invariant, replayed step
by step so each stays fixed. Each runs on a sandbox of its own: the machine's own test shares
the sync's sandbox, and a replay must not leave it objects or faults.
"""

from __future__ import annotations

import pytest

from tests.factories import make_user
from tests.sandbox import RallySandbox
from tests.sync.support import token
from tests.sync.test_invariants_machine import SyncMachine

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.long_running]


@pytest.fixture
def machine(machine_settings):
    with RallySandbox() as sandbox:
        SyncMachine.sandbox = sandbox
        SyncMachine.owner = make_user(f"replay-{token()}@example.com")
        SyncMachine.steps_run = SyncMachine.examples_run = 0
        state = SyncMachine()
        state.two_workspaces_on_one_template()
        yield state
        SyncMachine.sandbox = None


def _step(state: SyncMachine, rule, **arguments) -> None:
    """One step as Hypothesis runs it: the rule, then what holds at any moment."""
    rule(state, **arguments)
    state.what_holds_at_any_moment()


def test_a_worker_killed_while_sending_a_runs_first_row_leaves_nothing_in_flight_at_rest(machine):
    """Soak, December 2026: the drain sends a run's first row in its own thread, so the kill
    ended the drain itself and the killed rows were never marked abandoned ("at rest, rows
    still in flight: create feature …")."""
    m = SyncMachine
    _step(machine, m.switch_approval_mode)
    _step(machine, m.drain, which=0)
    _step(machine, m.settle)
    _step(machine, m.settle)
    _step(machine, m.drain, which=0)
    _step(machine, m.switch_approval_mode)
    _step(machine, m.new_feature, initiative=2, requirements=0)
    _step(machine, m.worker_killed_mid_drain, limit=3, which=0)
    _step(machine, m.settle)
    _step(machine, m.switch_approval_mode)
    _step(machine, m.settle)
    _step(machine, m.send_and_worker_killed_after_rally_committed, pick=0)
    for _ in range(3):
        _step(machine, m.new_feature, initiative=0, requirements=0)
    _step(machine, m.send_and_worker_killed_after_rally_committed, pick=1)
    machine.teardown()


def test_a_requirement_is_made_once_in_rally_after_dropped_answers_kills_and_a_deletion(machine):
    """Soak, December 2026: "names that exist more than once in Rally" (a story). A story's
    create lost its answer, then its feature was deleted in Rally, which empties the story's
    PortfolioItem: the look before sending again did not know it (not under the parent it was
    sent to) and made it twice. It is adopted once Rally says that parent is gone, and put
    under the feature's new object."""
    m = SyncMachine
    _step(machine, m.new_feature, initiative=2, requirements=1)
    _step(machine, m.faults_on, kind="answers of 2 POSTs dropped after commit")
    _step(machine, m.drain, which=0)
    _step(machine, m.worker_killed_mid_drain, limit=1, which=1)
    _step(machine, m.send_one, pick=13)
    _step(machine, m.drain, which=1)
    _step(machine, m.faults_on, kind="503 on a create, then a dropped answer")
    _step(machine, m.send_one, pick=17)
    _step(machine, m.send_one, pick=11)
    _step(machine, m.faults_on, kind="answer of a POST dropped after commit")
    _step(machine, m.worker_killed_mid_drain, limit=3, which=0)
    _step(machine, m.new_feature, initiative=0, requirements=1)
    _step(machine, m.drain, which=0)
    _step(machine, m.new_feature, initiative=0, requirements=1)
    _step(machine, m.faults_on, kind="answer of a POST dropped after commit")
    _step(machine, m.new_feature, initiative=0, requirements=2)
    _step(machine, m.faults_on, kind="429 once")
    _step(machine, m.worker_killed_mid_drain, limit=2, which=0)
    _step(machine, m.edit_in_rally, pick=8)
    _step(machine, m.new_feature, initiative=1, requirements=1)
    _step(machine, m.faults_on, kind="answers of 2 POSTs dropped after commit")
    _step(machine, m.delete_in_rally, pick=5)
    _step(machine, m.send_one, pick=8)
    _step(machine, m.send_one, pick=8)
    machine.teardown()


def test_a_feature_made_again_after_rally_deleted_it_takes_its_linked_stories_back(machine):
    """Soak, December 2026: "stories outside their feature in Rally". Rally deleted a feature
    (emptying its story's parent); the feature was sent again and made anew, but its
    requirement, linked all along, stayed outside it."""
    m = SyncMachine
    _step(machine, m.edit_here, pick=0)
    _step(machine, m.settle)
    _step(machine, m.settle)
    _step(machine, m.switch_approval_mode)
    _step(machine, m.faults_on, kind="503 on a create, then a dropped answer")
    _step(machine, m.edit_here, pick=29)
    _step(machine, m.faults_off)
    _step(machine, m.catch_up, which=0)
    _step(machine, m.faults_on, kind="503 once")
    _step(machine, m.worker_killed_mid_drain, limit=2, which=0)
    _step(machine, m.edit_here, pick=3)
    _step(machine, m.new_feature, initiative=0, requirements=1)
    _step(machine, m.catch_up, which=1)
    _step(machine, m.switch_approval_mode)
    _step(machine, m.switch_approval_mode)
    _step(machine, m.send_one, pick=9)
    _step(machine, m.faults_off)
    _step(machine, m.new_story_in_rally, pick=6)
    _step(machine, m.edit_here, pick=25)
    _step(machine, m.faults_on, kind="503 on a create, then a dropped answer")
    _step(machine, m.delete_in_rally, pick=8)
    _step(machine, m.edit_here, pick=34)
    _step(machine, m.catch_up, which=0)
    _step(machine, m.send_and_worker_killed_after_rally_committed, pick=13)
    machine.teardown()


def test_comments_edited_and_deleted_on_both_sides_under_a_dropped_answer_agree_at_rest(machine):
    """Issue 17's edits and deletions, as the machine's rules make them: a comment edited here
    while its post's answer was lost, a post edited and one deleted in Rally (one delivery
    lost), a comment deleted here. At rest: one post per comment with the same text, nothing
    deleted back on either side."""
    m = SyncMachine
    _step(machine, m.new_feature, initiative=0, requirements=0)
    _step(machine, m.new_feature, initiative=1, requirements=0)
    _step(machine, m.send_one, pick=0)
    _step(machine, m.send_one, pick=1)
    _step(machine, m.settle)
    _step(machine, m.comment_here, pick=0)
    _step(machine, m.comment_here, pick=1)
    _step(machine, m.post_in_rally, pick=0)
    _step(machine, m.faults_on, kind="answer of a POST dropped after commit")
    _step(machine, m.drain, which=0)
    _step(machine, m.edit_comment_here, pick=0)
    _step(machine, m.faults_off)
    _step(machine, m.settle)
    _step(machine, m.edit_post_in_rally, pick=1, delivered=False)
    _step(machine, m.edit_post_in_rally, pick=2, delivered=True)
    _step(machine, m.edit_comment_here, pick=0)
    _step(machine, m.drain, which=0)
    _step(machine, m.settle)
    _step(machine, m.delete_post_in_rally, pick=2, delivered=False)
    _step(machine, m.delete_comment_here, pick=0)
    _step(machine, m.settle)
    assert len(machine.gone) == 2
    machine.teardown()
