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

pytestmark = pytest.mark.django_db(transaction=True)


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
