from __future__ import annotations

from aharally.statusmap.matching import (
    Plan,
    Status,
    assign,
    auto_match,
    normalise,
    problems,
    to_aharally,
    to_rally,
)

FEATURE_STATUSES = [
    Status("1", "Under consideration", "not_started"),
    Status("2", "Ready to develop", "not_started"),
    Status("3", "In development", "in_progress"),
    Status("4", "Ready to ship", "in_progress"),
    Status("5", "Shipped", "done"),
    Status("6", "Will not implement", "wont_do"),
]
PI_STATES = ["Discovering", "Developing", "Measuring", "Done"]
SCHEDULE_STATES = ["Defined", "In-Progress", "Completed", "Accepted"]


def test_names_match_ignoring_case_spaces_and_punctuation():
    assert normalise("In-Progress") == normalise("in progress") == "inprogress"


def test_matching_names_are_mapped_both_ways():
    statuses = [Status("a", "Defined"), Status("b", "In progress"), Status("c", "Accepted")]
    plan = auto_match(statuses, SCHEDULE_STATES)
    assert plan.incoming["Defined"] == "a"
    assert plan.incoming["In-Progress"] == "b"
    assert plan.incoming["Accepted"] == "c"
    assert plan.outgoing == {"a": "Defined", "b": "In-Progress", "c": "Accepted"}


def test_every_rally_state_maps_to_exactly_one_status_and_every_status_sends_one():
    plan = auto_match(FEATURE_STATUSES, PI_STATES)
    assert set(plan.incoming) == set(PI_STATES)
    assert set(plan.outgoing) == {s.key for s in FEATURE_STATUSES}
    assert problems(plan, FEATURE_STATUSES, PI_STATES) == []


def test_unmatched_states_follow_their_place_in_the_workflow():
    plan = auto_match(FEATURE_STATUSES, PI_STATES)
    assert plan.incoming["Discovering"] == "1"  # first to first
    assert plan.incoming["Done"] == "5"  # last to the last ordinary status, not "will not"


def test_will_not_implement_sends_an_unstarted_state_never_a_done_one():
    """Rally's accepted counts must not take work nobody did."""
    assert auto_match(FEATURE_STATUSES, PI_STATES).outgoing["6"] == "Discovering"
    assert auto_match(FEATURE_STATUSES, SCHEDULE_STATES).outgoing["6"] == "Defined"
    assert auto_match(FEATURE_STATUSES, ["Idea", "Build", "Closed"]).outgoing["6"] == "Idea"


def test_dragging_measuring_and_developing_onto_in_development_groups_them():
    plan = auto_match(FEATURE_STATUSES, PI_STATES)
    plan = assign(plan, rally_state="Measuring", status_key="3")
    plan = assign(plan, rally_state="Developing", status_key="3")
    assert to_aharally(plan, "Measuring") == "3"
    assert to_aharally(plan, "Developing") == "3"
    assert to_rally(plan, "3") in {"Developing", "Measuring"}
    assert problems(plan, FEATURE_STATUSES, PI_STATES) == []


def test_a_status_receiving_its_first_state_starts_sending_it():
    plan = Plan(incoming={"Done": "5"}, outgoing={"5": "Done", "3": "Done"})
    plan = assign(plan, rally_state="Developing", status_key="3")
    assert to_rally(plan, "3") == "Developing"


def test_problems_name_what_is_missing():
    plan = Plan(incoming={"Discovering": "1"}, outgoing={"1": "Discovering"})
    found = problems(plan, FEATURE_STATUSES[:2], ["Discovering", "Gone"])
    assert "Rally state “Gone” is not mapped to a status." in found
    assert "Status “Ready to develop” has no Rally state to send." in found


def test_no_states_or_no_statuses_gives_an_empty_plan():
    assert auto_match([], PI_STATES) == Plan()
    assert auto_match(FEATURE_STATUSES, []) == Plan()


def test_states_go_to_a_status_of_the_same_stage_in_order():
    plan = auto_match(FEATURE_STATUSES, PI_STATES)
    assert to_aharally(plan, "Developing") == "3"  # In development
    assert to_aharally(plan, "Measuring") == "4"  # Ready to ship
    stories = auto_match(FEATURE_STATUSES, SCHEDULE_STATES)
    assert [to_aharally(stories, s) for s in SCHEDULE_STATES] == ["1", "3", "4", "5"]
    assert to_rally(stories, "2") == "Defined"  # Ready to develop sends a not-started state


def test_unknown_state_names_take_their_stage_from_their_place():
    plan = auto_match(FEATURE_STATUSES, ["Inbox", "Building", "Live"])
    assert [to_aharally(plan, s) for s in ("Inbox", "Building", "Live")] == ["1", "3", "5"]


def test_a_workflow_without_a_stage_falls_back_to_the_place_in_it():
    statuses = [Status("a", "Open", "not_started"), Status("b", "Closed", "done")]
    plan = auto_match(statuses, PI_STATES)
    assert set(plan.incoming.values()) <= {"a", "b"}
    assert problems(plan, statuses, PI_STATES) == []
