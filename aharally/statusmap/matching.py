"""Pure status-mapping logic: auto-matching, regrouping, translating and checking.

Two directions, deliberately separate:
- incoming: every Rally state maps to exactly one aharally status (one status may take many
  states: Measuring + Developing → In development);
- outgoing: every aharally status sends exactly one Rally state.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

WONT_DO = "wont_do"


@dataclass(frozen=True)
class Status:
    key: str  # a stable id (the WorkflowStatus pk as a string, in the app)
    name: str
    category: str = ""


@dataclass
class Plan:
    incoming: dict[str, str] = field(default_factory=dict)  # Rally state -> status key
    outgoing: dict[str, str] = field(default_factory=dict)  # status key -> Rally state


def normalise(name: str) -> str:
    """Names match ignoring case, spaces and punctuation (In-Progress = in progress)."""
    return re.sub(r"[^0-9a-z]+", "", name.casefold())


NOT_STARTED, IN_PROGRESS, DONE = "not_started", "in_progress", "done"

# Rally's own state names and the stage each stands for. A name Rally doesn't ship takes
# its stage from its place in the list (first: not started, last: done, between: in progress).
RALLY_STAGES = {
    normalise(name): stage
    for stage, names in {
        NOT_STARTED: ["Idea", "Backlog", "Defined", "Discovering", "Planning", "Submitted"],
        IN_PROGRESS: ["In-Progress", "Completed", "Developing", "Measuring", "Active", "Open"],
        DONE: ["Accepted", "Released", "Done", "Closed", "Fixed"],
    }.items()
    for name in names
}


def rally_stage(state: str, index: int, count: int) -> str:
    known = RALLY_STAGES.get(normalise(state))
    if known:
        return known
    if index == 0:
        return NOT_STARTED
    return DONE if index == count - 1 else IN_PROGRESS


def _proportional(index: int, count: int, other_count: int) -> int:
    if count <= 1 or other_count <= 1:
        return 0 if other_count <= 1 or index == 0 else other_count - 1
    return round(index * (other_count - 1) / (count - 1))


def auto_match(statuses: Sequence[Status], rally_states: Sequence[str]) -> Plan:
    """Matching names map to each other; the rest go to a status of the same stage.

    Within a stage, states and statuses pair in order (Developing → In development,
    Measuring → Ready to ship); a stage the workflow lacks falls back to the place in it.
    """
    plan = Plan()
    if not statuses or not rally_states:
        return plan
    by_name = {normalise(s.name): s for s in statuses}
    for state in rally_states:
        status = by_name.get(normalise(state))
        if status is not None:
            plan.incoming[state] = status.key
            plan.outgoing.setdefault(status.key, state)
    # "Will not do" statuses take no Rally state by position: Rally workflows rarely have one.
    ordinary = [s for s in statuses if s.category != WONT_DO] or list(statuses)
    stages = {
        state: rally_stage(state, index, len(rally_states))
        for index, state in enumerate(rally_states)
    }
    for index, state in enumerate(rally_states):
        if state in plan.incoming:
            continue
        same_stage = [s for s in ordinary if s.category == stages[state]]
        if same_stage:
            place = [t for t in rally_states if stages[t] == stages[state]].index(state)
            plan.incoming[state] = same_stage[min(place, len(same_stage) - 1)].key
        else:
            position = _proportional(index, len(rally_states), len(ordinary))
            plan.incoming[state] = ordinary[position].key
    for index, status in enumerate(statuses):
        if status.key in plan.outgoing:
            continue
        mapped = [s for s in rally_states if plan.incoming[s] == status.key]
        same_stage = [s for s in rally_states if stages[s] == status.category]
        if mapped:
            plan.outgoing[status.key] = mapped[0]
        elif status.category == WONT_DO:
            # Never a done state: Rally would count work nobody did as accepted. Rally ships
            # no "won't do", so the work goes back to where unstarted work is.
            plan.outgoing[status.key] = next(
                (s for s in rally_states if stages[s] == NOT_STARTED), rally_states[0]
            )
        elif same_stage:
            plan.outgoing[status.key] = same_stage[0]
        else:
            position = ordinary.index(status) if status in ordinary else index
            plan.outgoing[status.key] = rally_states[
                _proportional(position, len(ordinary), len(rally_states))
            ]
    return plan


def assign(plan: Plan, *, rally_state: str, status_key: str) -> Plan:
    """Move one Rally state onto a status (a drag and drop); returns a new plan.

    A status that had no Rally state of its own starts sending the one it received.
    """
    incoming = dict(plan.incoming)
    outgoing = dict(plan.outgoing)
    had_states = any(key == status_key for key in incoming.values())
    incoming[rally_state] = status_key
    if not had_states:
        outgoing[status_key] = rally_state
    return Plan(incoming=incoming, outgoing=outgoing)


def problems(plan: Plan, statuses: Sequence[Status], rally_states: Sequence[str]) -> list[str]:
    """What keeps the plan from being complete, in words for the owner."""
    found = []
    keys = {s.key: s for s in statuses}
    for state in rally_states:
        if plan.incoming.get(state) not in keys:
            found.append(f"Rally state “{state}” is not mapped to a status.")
    for status in statuses:
        sent = plan.outgoing.get(status.key)
        if sent not in rally_states:
            found.append(f"Status “{status.name}” has no Rally state to send.")
    for state in plan.incoming:
        if state not in rally_states:
            found.append(f"Rally no longer has the state “{state}”.")
    return found


def to_rally(plan: Plan, status_key: str) -> str | None:
    return plan.outgoing.get(status_key)


def to_aharally(plan: Plan, rally_state: str) -> str | None:
    return plan.incoming.get(rally_state)
