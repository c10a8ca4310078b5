"""A workspace integrated with two Rallys (two Rally URLs) as a state machine: people edit and
add stories here and in either Rally, sends and catch-ups run in any order under faults of
either Rally, and what one Rally changes goes on to the other.

After every step: each Rally holds each object once and each is linked to one record; no
record here is a copy. At rest (faults off, everything drained and caught up): every record
sent to a Rally is linked there; a feature in both Rallys has the same name in each as here,
or an open conflict says why; a story added in one Rally under a feature both hold is in
both, once, under that feature.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from aharally.rally.query import where
from aharally.records.models import Feature, Requirement
from aharally.records.services import update_record
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import Conflict, ConflictState, Link, LinkState, OutboxItem, OutboxState
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import RecordType
from tests.factories import make_feature, make_requirement, make_user, make_workspace
from tests.sandbox import RallySandbox
from tests.sync.support import connect, sandbox_client, token
from tests.sync.test_invariants_machine import FAULTS as MACHINE_FAULTS
from tests.sync.test_invariants_machine import _hypothesis_settings

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.long_running]

EXAMPLES = int(os.environ.get("SYNC_MACHINE_EXAMPLES", "4"))
STEPS = int(os.environ.get("SYNC_MACHINE_STEPS", "20"))
FAULTS = {
    kind: MACHINE_FAULTS[kind]
    for kind in ("503 once", "429 once", "answer of a POST dropped after commit")
}
_numbers = itertools.count(1)


class TwoRallysMachine(RuleBasedStateMachine):
    sandboxes: tuple = ()  # set by the test: (the sync's sandbox, a second one)
    owner = None

    def __init__(self) -> None:
        super().__init__()
        self.word = token()
        self.faults: list[list[dict]] = [[], []]
        self.features: list[int] = []
        self.mine: set[tuple[str, int]] = set()
        self.sent: set[tuple[int, str, int]] = set()  # (which Rally, record type, pk)
        # Stories people made in a Rally: (which Rally, ObjectID) → name.
        self.rally_made: dict[tuple[int, int], str] = {}

    @initialize()
    def one_workspace_two_rallys(self):
        n = next(_numbers)
        self.workspace = make_workspace("Platform", f"T{n}R", owner=self.owner)
        self.integrations = [
            connect(self.workspace, sandbox, owner=self.owner, name=f"Rally {which} {n}")
            for which, sandbox in enumerate(self.sandboxes)
        ]
        # Features in both Rallys to begin with, so that every sequence works on some.
        for _ in range(3):
            self.new_feature(requirements=1)
        for which in (0, 1):
            for pick in range(3):
                self.send(which, pick)

    # -- helpers ---------------------------------------------------------------------------------

    def _name(self, letter: str) -> str:
        return f"{letter}{next(_numbers)} {self.word}"

    def _sync(self, which: int, call):
        """The sync's call on one Rally, with that Rally's faults on around it."""
        sandbox = self.sandboxes[which]
        if self.faults[which]:
            sandbox.admin("POST", "/sandbox-admin/faults", json=self.faults[which])
        try:
            return call(self.integrations[which].pk)
        finally:
            if self.faults[which]:
                sandbox.admin("DELETE", "/sandbox-admin/faults")

    def _links(self, which: int | None = None, **filters):
        integrations = self.integrations if which is None else [self.integrations[which]]
        return Link.objects.filter(integration__in=integrations, state=LinkState.OK, **filters)

    def _linked_feature(self, which: int, pick: int) -> Link | None:
        """One of the features linked into that Rally (`pick` chooses), or None."""
        linked = list(
            self._links(
                which, record_type=RecordType.FEATURE, record_id__in=self.features
            ).order_by("pk")
        )
        return linked[pick % len(linked)] if linked else None

    def _in_rally(self, which: int, rally_type: str) -> list:
        with sandbox_client(self.sandboxes[which]) as client:
            return list(
                client.query(
                    rally_type,
                    query=where("Name", "contains", self.word),
                    fetch=["ObjectID", "Name", "PortfolioItem"],
                )
            )

    # -- rules -----------------------------------------------------------------------------------

    @precondition(lambda self: len(self.features) < 6)
    @rule(requirements=st.integers(0, 2))
    def new_feature(self, requirements):
        feature = make_feature(self.workspace, name=self._name("F"))
        self.features.append(feature.pk)
        self.mine.add((RecordType.FEATURE, feature.pk))
        for _ in range(requirements):
            made = make_requirement(feature, name=self._name("Q"))
            self.mine.add((RecordType.REQUIREMENT, made.pk))

    @precondition(lambda self: self.features)
    @rule(which=st.integers(0, 1), pick=st.integers(0, 9))
    def send(self, which, pick):
        feature = Feature.objects.get(pk=self.features[pick % len(self.features)])
        outbox.request_send(record=feature, integration=self.integrations[which], user=self.owner)
        self.sent.add((which, RecordType.FEATURE, feature.pk))
        self._sync(which, drain_outbox)

    @precondition(lambda self: self.features)
    @rule(pick=st.integers(0, 9))
    def edit_here(self, pick):
        feature = Feature.objects.get(pk=self.features[pick % len(self.features)])
        update_record(feature, changes={"name": self._name("F")}, user=self.owner)

    @rule(which=st.integers(0, 1), pick=st.integers(0, 9))
    def edit_in_rally(self, which, pick):
        link = self._linked_feature(which, pick)
        if link is None:
            return
        with sandbox_client(self.sandboxes[which]) as client:
            client.update(f"/portfolioitem/feature/{link.rally_oid}", {"Name": self._name("F")})

    @rule(which=st.integers(0, 1), pick=st.integers(0, 9))
    def new_story_in_rally(self, which, pick):
        link = self._linked_feature(which, pick)
        if link is None:
            return
        name = self._name("S")
        with sandbox_client(self.sandboxes[which]) as client:
            made = client.create(
                "HierarchicalRequirement",
                {"Name": name, "PortfolioItem": f"/portfolioitem/feature/{link.rally_oid}"},
            )
        self.rally_made[(which, made.object_id)] = name

    @rule(which=st.integers(0, 1))
    def drain(self, which):
        self._sync(which, drain_outbox)

    @rule(which=st.integers(0, 1))
    def catch_up(self, which):
        self._sync(which, pull_updates)

    @rule(which=st.integers(0, 1), kind=st.sampled_from(sorted(FAULTS)))
    def faults_on(self, which, kind):
        self.faults[which] = FAULTS[kind]

    @rule()
    def settle(self):
        self._settle()
        self._check_at_rest()

    # -- what holds at any moment --------------------------------------------------------------

    @invariant()
    def what_holds_at_any_moment(self):
        if not hasattr(self, "integrations"):
            return
        self._one_object_one_record_in_each_rally()
        self._nothing_twice_in_either_rally()
        self._no_copies_here()

    def _one_object_one_record_in_each_rally(self):
        for which in (0, 1):
            links = list(self._links(which).values_list("rally_oid", "record_type", "record_id"))
            by_oid = Counter(oid for oid, _, _ in links)
            by_record = Counter((t, pk) for _, t, pk in links)
            assert not [o for o, n in by_oid.items() if n > 1], f"Rally {which}: {links}"
            assert not [r for r, n in by_record.items() if n > 1], f"Rally {which}: {links}"

    def _nothing_twice_in_either_rally(self):
        for which in (0, 1):
            for rally_type in ("PortfolioItem/Feature", "HierarchicalRequirement"):
                names = Counter(obj.name for obj in self._in_rally(which, rally_type))
                twice = {name: n for name, n in names.items() if n > 1}
                assert not twice, f"Rally {which} holds more than once: {twice}"

    def _no_copies_here(self):
        requirements = set(
            Requirement.objects.filter(feature__workspace=self.workspace).values_list(
                "pk", flat=True
            )
        )
        ours = {pk for t, pk in self.mine if t == RecordType.REQUIREMENT}
        imported = requirements - ours
        names = Counter(Requirement.objects.filter(pk__in=imported).values_list("name", flat=True))
        assert set(names) <= set(self.rally_made.values()), f"copies here: {names}"
        twice = {name: n for name, n in names.items() if n > 1}
        assert not twice, f"stories imported more than once: {twice}"
        features = Feature.objects.filter(workspace=self.workspace).count()
        assert features == len(self.features), "a feature came in from Rally"

    # -- at rest ----------------------------------------------------------------------------

    def teardown(self):
        try:
            if hasattr(self, "integrations"):
                self._settle()
                self._check_at_rest()
        finally:
            for sandbox in self.sandboxes:
                sandbox.admin("DELETE", "/sandbox-admin/faults")

    def _settle(self):
        self.faults = [[], []]
        rows = OutboxItem.objects.filter(integration__in=self.integrations)
        for _ in range(6):
            rows.filter(state=OutboxState.QUEUED).update(not_before=None)
            for which in (0, 1):
                self._sync(which, drain_outbox)
            for which in (0, 1):
                self._sync(which, pull_updates)
            if not rows.filter(state__in=[OutboxState.QUEUED, OutboxState.IN_FLIGHT]).exists():
                return
        raise AssertionError(f"not at rest: {list(rows.exclude(state=OutboxState.SENT))}")

    def _check_at_rest(self):
        self._one_object_one_record_in_each_rally()
        self._nothing_twice_in_either_rally()
        self._no_copies_here()
        failed = list(
            OutboxItem.objects.filter(
                integration__in=self.integrations, state=OutboxState.FAILED
            ).values_list("kind", "record_type", "error_message")
        )
        assert not failed, f"rows that failed: {failed}"
        for which, record_type, pk in self.sent:
            assert self._links(which, record_type=record_type, record_id=pk).exists(), (
                f"sent to Rally {which} and not linked there: {record_type} {pk}"
            )
        self._names_agree_or_a_conflict_says_why()
        self._stories_in_both()

    def _names_agree_or_a_conflict_says_why(self):
        names = [
            {obj.object_id: obj.name for obj in self._in_rally(w, "PortfolioItem/Feature")}
            for w in (0, 1)
        ]
        for feature in Feature.objects.filter(pk__in=self.features):
            for which in (0, 1):
                link = self._links(which, record_type=RecordType.FEATURE, record_id=feature.pk)
                link = link.first()
                if link is None or names[which][link.rally_oid] == feature.name:
                    continue
                open_conflict = Conflict.objects.filter(
                    link__record_type=RecordType.FEATURE,
                    link__record_id=feature.pk,
                    field="name",
                    state=ConflictState.OPEN,
                ).exists()
                assert open_conflict, (
                    f"{feature.reference} is “{feature.name}” here and "
                    f"“{names[which][link.rally_oid]}” in Rally {which}, with no conflict"
                )

    def _stories_in_both(self):
        """A story made in one Rally under a feature both Rallys hold is in each, once, under
        that Rally's object of the feature."""
        stories = [self._in_rally(w, "HierarchicalRequirement") for w in (0, 1)]
        for (which, oid), name in self.rally_made.items():
            here = Link.objects.filter(
                integration=self.integrations[which], rally_oid=oid, state=LinkState.OK
            ).first()
            assert here is not None, f"{name}, made in Rally {which}, was not imported"
            requirement = Requirement.objects.get(pk=here.record_id)
            other = 1 - which
            feature_there = self._links(
                other, record_type=RecordType.FEATURE, record_id=requirement.feature_id
            ).first()
            if feature_there is None:
                continue
            there = self._links(
                other, record_type=RecordType.REQUIREMENT, record_id=requirement.pk
            ).first()
            assert there is not None, f"{name} is not in Rally {other}, where its feature is"
            (story,) = [s for s in stories[other] if s.object_id == there.rally_oid]
            parent = story.fields["PortfolioItem"]["_ref"]
            assert parent.endswith(f"/{feature_there.rally_oid}"), (
                f"{name} is under {parent} in Rally {other}, not its feature"
            )


@pytest.fixture(scope="module")
def second_sandbox():
    with RallySandbox() as sandbox:
        yield sandbox


def test_two_rallys_converge_whatever_people_both_rallys_and_faults_do(
    rally_sandbox, second_sandbox, machine_settings
):
    TwoRallysMachine.sandboxes = (rally_sandbox, second_sandbox)
    TwoRallysMachine.owner = make_user(f"two-rallys-{token()}@example.com")
    run_state_machine_as_test(
        TwoRallysMachine,
        settings=_hypothesis_settings(
            max_examples=EXAMPLES, stateful_step_count=STEPS, derandomize=True
        ),
    )
