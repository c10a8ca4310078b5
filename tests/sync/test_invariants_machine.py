"""The whole sync as a state machine: people, Rally and faults in any order; the invariants
of docs/sync.md (issue 15, "What must hold, always") checked after every step and at rest.

Two workspaces (Platform and Company) with two integrations on one template and one Rally
project, auto-import on, Company's initiatives as Platform features' parents. The sync runs
in-process (drain, catch-up, deliveries) against the real sandbox and a real database; the
sandbox's faults are installed only around the sync's own calls, so what people do in Rally
(and what the invariants read) is never faulted.

Budget: SYNC_MACHINE_EXAMPLES and SYNC_MACHINE_STEPS raise it; SYNC_MACHINE_MINUTES makes the
test run fresh random sequences for that long, writing each violation to SYNC_MACHINE_REPORT
(bench/soak.py drives that).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
import uuid
from collections import Counter
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from aharally.integrations.models import Integration, OutgoingMode
from aharally.integrations.templates_service import use_as_template
from aharally.records.models import Feature, Initiative, Requirement
from aharally.records.services import create_initiative, update_record
from aharally.sync.incoming.catchup import run_catch_up
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.incoming.webhooks import receive_delivery
from aharally.sync.models import (
    Conflict,
    ConflictState,
    Difference,
    Link,
    LinkState,
    OutboxItem,
    OutboxKind,
    OutboxState,
    WebhookRegistration,
)
from aharally.sync.outgoing import attempts, outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.outgoing.linking import unlink_record
from aharally.sync.reconcile.compare import run_comparison, start_comparison
from aharally.sync.reconcile.compare_report import ACTIONS, ResolveError, resolve
from aharally.sync.reconcile.search import (
    SearchError,
    import_chosen,
    run_search,
    search_rows,
    start_search,
)
from aharally.sync.review import queue
from aharally.sync.web.jobs import start_job
from aharally.workspaces.models import RecordType
from tests.factories import make_feature, make_requirement, make_workspace
from tests.sync.machine_discussion import DiscussionRules
from tests.sync.support import connect, rally_objects, sandbox_client, scope_of, token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.long_running]

EXAMPLES = int(os.environ.get("SYNC_MACHINE_EXAMPLES", "10"))
STEPS = int(os.environ.get("SYNC_MACHINE_STEPS", "20"))
MINUTES = float(os.environ.get("SYNC_MACHINE_MINUTES", "0"))
REPORT = os.environ.get("SYNC_MACHINE_REPORT", "")

SECRET = "machine-webhook-secret"
RALLY_TYPES = {
    RecordType.FEATURE: "PortfolioItem/Feature",
    RecordType.REQUIREMENT: "HierarchicalRequirement",
    RecordType.INITIATIVE: "PortfolioItem/Initiative",
}
MODELS = {
    RecordType.FEATURE: Feature,
    RecordType.REQUIREMENT: Requirement,
    RecordType.INITIATIVE: Initiative,
}
FAULTS = {
    "503 once": [{"kind": "status", "status": 503, "count": 1}],
    "429 once": [{"kind": "status", "status": 429, "retry_after": 1, "count": 1}],
    "answer of a POST dropped after commit": [
        {"kind": "drop_after_commit", "match": {"method": "POST"}, "count": 1}
    ],
    "answers of 2 POSTs dropped after commit": [
        {"kind": "drop_after_commit", "match": {"method": "POST"}, "count": 2}
    ],
    "503 on a create, then a dropped answer": [
        {"kind": "status", "status": 503, "count": 1, "match": {"method": "POST"}},
        {"kind": "drop_after_commit", "match": {"method": "POST"}, "count": 1},
    ],
}
_numbers = itertools.count(1)


class WorkerKilled(BaseException):
    """The worker process died here (not an error the sync could catch)."""


def _path(rally_type: str, oid: int) -> str:
    return f"/{rally_type.lower()}/{oid}"


class SyncMachine(DiscussionRules, RuleBasedStateMachine):
    """A model of what people made, where; the real sync does the rest."""

    sandbox = None  # set by the test: the session's Rally sandbox
    owner = None
    steps_run = 0
    examples_run = 0
    # What failed in this run, as it failed: a soak reports it even when Hypothesis, replaying
    # the sequence to shrink it, finds the run behaves differently and says only "Flaky".
    failures_seen: list[str] = []

    def __init__(self) -> None:
        super().__init__()
        type(self).examples_run += 1
        self.word = token()
        self.faults: list[dict] = []
        self.fault_name = ""
        # Records the machine made in aharally: (record type, pk).
        self.mine: set[tuple[str, int]] = set()
        # Records the machine asked to send (and their requirements and initiative).
        self.sent: set[tuple[str, int]] = set()
        self.edited: set[tuple[str, int]] = set()
        self.unlinked: set[tuple[str, int]] = set()
        self.link_targets: set[tuple[str, int]] = set()
        self.refused_sends: set[tuple[str, int]] = set()
        # Rally objects the machine made in Rally: oid → (type, name, parent oid or None).
        self.rally_made: dict[int, dict] = {}
        self.deleted: set[int] = set()
        self.unlinked_oids: set[int] = set()
        # Claims of outbox rows left in flight by a "killed worker".
        self.abandoned: set[str] = set()

    # -- set-up ---------------------------------------------------------------------------------

    @initialize()
    def two_workspaces_on_one_template(self):
        n = next(_numbers)
        self.platform = make_workspace("Platform", f"P{n}X", owner=self.owner)
        self.company = make_workspace("Company", f"C{n}X", owner=self.owner)
        self.plat = connect(self.platform, self.sandbox, owner=self.owner, name=f"Plat {n}")
        use_as_template(integration=self.plat, by=self.owner)
        self.comp = connect(
            self.company, self.sandbox, owner=self.owner, name=f"Co {n}", template=self.plat
        )
        self.integrations = [self.plat, self.comp]
        for integration in self.integrations:
            WebhookRegistration.objects.update_or_create(
                integration=integration, defaults={"secret": SECRET, "state": "registered"}
            )
        self.initiatives = [
            create_initiative(workspace=self.company, name=f"Goal {k} {self.word}")
            for k in range(2)
        ]
        self.mine |= {(RecordType.INITIATIVE, i.pk) for i in self.initiatives}
        self.features: list[int] = []
        self.workspace_oid, self.project_oid = scope_of(self.sandbox)
        _, self.team_a_oid = scope_of(self.sandbox, project="Platform – Team A")  # noqa: RUF001

    def _name(self, letter: str) -> str:
        return f"{letter}{next(_numbers)} {self.word}"

    # -- helpers ---------------------------------------------------------------------------------

    def _under_faults(self, call, *args):
        """The sync's own call, with the faults switched on now (if any) installed around it."""
        if self.faults:
            self.sandbox.admin("POST", "/sandbox-admin/faults", json=self.faults).raise_for_status()
        try:
            return call(*args)
        finally:
            if self.faults:
                self.sandbox.admin("DELETE", "/sandbox-admin/faults")

    def _integration(self, which: int) -> Integration:
        return self.integrations[which % 2]

    def _links(self, **filters):
        return Link.objects.filter(integration__in=self.integrations, **filters)

    def _ok_links(self, *types):
        links = self._links(state=LinkState.OK).exclude(rally_oid__in=self.deleted)
        if types:
            links = links.filter(record_type__in=types)
        return list(links.order_by("pk"))

    def _sendable(self) -> list[Feature]:
        keys = self.unlinked | self.link_targets
        return [
            f
            for f in Feature.objects.filter(pk__in=self.features).order_by("pk")
            if (RecordType.FEATURE, f.pk) not in keys
        ]

    def _mark_sent(self, feature: Feature) -> None:
        self.sent.add((RecordType.FEATURE, feature.pk))
        self.refused_sends.discard((RecordType.FEATURE, feature.pk))
        for pk in feature.requirements.values_list("pk", flat=True):
            if (RecordType.REQUIREMENT, pk) in self.mine:
                self.sent.add((RecordType.REQUIREMENT, pk))
        if feature.initiative_id:
            self.sent.add((RecordType.INITIATIVE, feature.initiative_id))

    def _deliver(self, integration, action: str, oid: int, *, times: int = 1):
        body = json.dumps(
            {
                "message": {
                    "message_id": str(uuid.uuid4()),
                    "action": action,
                    "object_type": "Feature",
                    "state": {"a": {"name": "ObjectID", "value": oid}},
                }
            }
        ).encode()
        events = [
            receive_delivery(integration_id=integration.pk, secret=SECRET, body=body)
            for _ in range(times)
        ]
        assert all(e is None for e in events[1:]), "a repeated delivery was kept twice"
        return events[0]

    # -- rules: people in aharally ---------------------------------------------------------------

    @precondition(lambda self: len(self.features) < 10)
    @rule(requirements=st.integers(0, 2), initiative=st.integers(0, 2))
    def new_feature(self, requirements, initiative):
        parent = self.initiatives[initiative] if initiative < 2 else None
        feature = make_feature(self.platform, name=self._name("F"), initiative=parent)
        self.features.append(feature.pk)
        self.mine.add((RecordType.FEATURE, feature.pk))
        for _ in range(requirements):
            requirement = make_requirement(feature, name=self._name("Q"))
            self.mine.add((RecordType.REQUIREMENT, requirement.pk))

    @precondition(lambda self: self.features)
    @rule(pick=st.integers(0, 20))
    def send_one(self, pick):
        sendable = self._sendable()
        if not sendable:
            return
        feature = sendable[pick % len(sendable)]
        try:
            outbox.request_send(record=feature, integration=self.plat, user=self.owner)
        except outbox.SyncError:
            return
        self._mark_sent(feature)
        self._under_faults(drain_outbox, self.plat.pk)

    @precondition(lambda self: len(self.features) >= 2)
    @rule(picks=st.sets(st.integers(0, 20), min_size=2, max_size=5))
    def bulk_send(self, picks):
        sendable = self._sendable()
        chosen = (
            list(
                {
                    sendable[p % len(sendable)].pk: sendable[p % len(sendable)] for p in picks
                }.values()
            )
            if sendable
            else []
        )
        if not chosen:
            return
        try:
            start_job(records=chosen, integration=self.plat, user=self.owner, label="bulk")
        except outbox.SyncError:
            return
        for feature in chosen:
            self._mark_sent(feature)
        self._under_faults(drain_outbox, self.plat.pk)

    @precondition(lambda self: self.mine)
    @rule(pick=st.integers(0, 50))
    def edit_here(self, pick):
        keys = sorted(self.mine - self.link_targets)
        record_type, pk = keys[pick % len(keys)]
        record = MODELS[record_type].objects.filter(pk=pk).first()
        if record is None:
            return
        update_record(record, changes={"name": self._name("E")}, user=self.owner)
        self.edited.add((record_type, pk))

    @rule(which=st.integers(0, 1))
    def drain(self, which):
        """Time passes (retries are due) and the cluster drains the outbox."""
        integration = self._integration(which)
        OutboxItem.objects.filter(integration=integration, state=OutboxState.QUEUED).update(
            not_before=timezone.now()
        )
        self._under_faults(drain_outbox, integration.pk)

    @rule(which=st.integers(0, 1))
    def catch_up(self, which):
        self._under_faults(pull_updates, self._integration(which).pk)

    @precondition(lambda self: self._ok_links(RecordType.FEATURE))
    @rule(pick=st.integers(0, 20))
    def unlink(self, pick):
        # Features without an initiative only: one under a linked initiative is, once
        # unlinked, a Rally feature under a linked parent that the catch-up may import.
        links = [
            link
            for link in self._ok_links(RecordType.FEATURE)
            if not Feature.objects.filter(pk=link.record_id, initiative__isnull=False).exists()
            and (RecordType.FEATURE, link.record_id) in self.mine
        ]
        if not links:
            return
        link = links[pick % len(links)]
        unlink_record(
            integration=link.integration,
            record_type=link.record_type,
            record_id=link.record_id,
            user=self.owner,
        )
        self.unlinked.add((link.record_type, link.record_id))
        self.unlinked_oids.add(link.rally_oid)
        self.sent.discard((link.record_type, link.record_id))

    @precondition(lambda self: self.features)
    @rule(pick=st.integers(0, 20))
    def link_to_existing(self, pick):
        """A feature never sent is linked to a Rally feature of the same name (made now)."""
        never = [
            f
            for f in self._sendable()
            if (RecordType.FEATURE, f.pk) not in self.sent
            and not OutboxItem.objects.filter(record_type="feature", record_id=f.pk).exists()
            and not f.initiative_id
        ]
        if not never:
            return
        feature = never[pick % len(never)]
        with sandbox_client(self.sandbox) as client:
            made = client.create(
                "PortfolioItem/Feature",
                {"Name": feature.name, "Project": f"/project/{self.project_oid}"},
                fetch=["ObjectID", "FormattedID"],
            )
        self.rally_made[made.object_id] = {"type": "feature", "name": feature.name, "parent": None}
        self.link_targets.add((RecordType.FEATURE, feature.pk))
        browser = Client()
        browser.force_login(self.owner)
        url = reverse(
            "sync:link",
            kwargs={
                "prefix": self.platform.prefix,
                "record_type": "feature",
                "record_id": feature.pk,
            },
        )
        answer = browser.post(
            url,
            {"integration": self.plat.pk, "formatted_id": made.formatted_id},
            HTTP_HX_REQUEST="true",
        )
        assert answer.status_code == 200, answer.content.decode()[:500]
        self.sent.add((RecordType.FEATURE, feature.pk))
        self._under_faults(drain_outbox, self.plat.pk)

    @rule()
    def switch_approval_mode(self):
        """The template's owner switches "approve outgoing changes" on, or off again."""
        self.plat.refresh_from_db()
        on = self.plat.outgoing_mode != OutgoingMode.APPROVE
        mode = OutgoingMode.APPROVE if on else OutgoingMode.AUTOMATIC
        Integration.objects.filter(pk=self.plat.pk).update(outgoing_mode=mode)

    @precondition(
        lambda self: OutboxItem.objects.filter(
            integration__in=self.integrations, state=OutboxState.AWAITING_APPROVAL
        ).exists()
    )
    @rule(reject=st.booleans(), pick=st.integers(0, 20))
    def review(self, reject, pick):
        rows = list(
            OutboxItem.objects.filter(
                integration__in=self.integrations, state=OutboxState.AWAITING_APPROVAL
            ).order_by("pk")
        )
        if not rows:
            return
        row = rows[pick % len(rows)]
        if reject:
            queue.reject(user=self.owner, row_ids=[row.pk])
            if row.kind == OutboxKind.CREATE:
                self.refused_sends.add((row.record_type, row.record_id))
        else:
            queue.approve(user=self.owner, row_ids=[row.pk])
            self._under_faults(drain_outbox, row.integration_id)

    # -- rules: the task cluster -------------------------------------------------------------------

    @rule(which=st.integers(0, 1), limit=st.integers(1, 3))
    def worker_killed_mid_drain(self, which, limit):
        """A drain claimed rows and its worker died: they stay in flight, claimed long ago."""
        integration = self._integration(which)
        rows = attempts.claim_ready(integration_id=integration.pk, limit=limit)
        stale = timezone.now() - timedelta(seconds=django_settings.SYNC_CLAIM_TIMEOUT_SECONDS + 5)
        OutboxItem.objects.filter(pk__in=[r.pk for r in rows]).update(claimed_at=stale)
        self.abandoned |= {r.claim_token for r in rows}

    @precondition(lambda self: self.features)
    @rule(pick=st.integers(0, 20))
    def send_and_worker_killed_after_rally_committed(self, pick):
        """A send whose worker dies after each create committed in Rally, before the link
        is written (SIGKILL mid-request): the rows stay in flight until reclaimed."""
        integration = self.plat
        sendable = self._sendable()
        if not sendable:
            return
        feature = sendable[pick % len(sendable)]
        try:
            outbox.request_send(record=feature, integration=integration, user=self.owner)
        except outbox.SyncError:
            return
        self._mark_sent(feature)
        # A parent (Company's initiative) is created in the same send, through its own row.
        # By claim: the killed drain may reclaim a row an earlier kill left, and claim it anew.
        before = set(
            OutboxItem.objects.filter(
                integration__in=self.integrations, state=OutboxState.IN_FLIGHT
            ).values_list("claim_token", flat=True)
        )

        def killed(*args, **kwargs):
            raise WorkerKilled

        # The drain sends a run's first row in its own thread (the rest in its pool), so the
        # kill may end the drain itself: what it claimed and did not finish stays in flight,
        # whatever the kind (rows claimed with the killed one were never sent).
        with (
            mock.patch("aharally.sync.outgoing.create._store_link", killed),
            mock.patch("aharally.sync.outgoing.create._store_links", killed),  # answered together
            contextlib.suppress(WorkerKilled),
        ):
            self._under_faults(drain_outbox, integration.pk)
        stale = timezone.now() - timedelta(seconds=django_settings.SYNC_CLAIM_TIMEOUT_SECONDS + 5)
        dead = OutboxItem.objects.filter(
            integration__in=self.integrations, state=OutboxState.IN_FLIGHT
        ).exclude(claim_token__in=before)
        self.abandoned |= set(dead.values_list("claim_token", flat=True))
        dead.update(claimed_at=stale)

    @rule(kind=st.sampled_from(sorted(FAULTS)))
    def faults_on(self, kind):
        self.faults = FAULTS[kind]
        self.fault_name = kind

    @precondition(lambda self: self.faults)
    @rule()
    def faults_off(self):
        self.faults = []
        self.fault_name = ""

    # -- rules: Rally ----------------------------------------------------------------------

    @precondition(lambda self: self._ok_links())
    @rule(pick=st.integers(0, 50))
    def edit_in_rally(self, pick):
        links = self._ok_links()
        link = links[pick % len(links)]
        with sandbox_client(self.sandbox) as client:
            client.update(_path(link.rally_type, link.rally_oid), {"Name": self._name("R")})

    @precondition(lambda self: self._ok_links(RecordType.FEATURE))
    @rule(pick=st.integers(0, 20))
    def new_story_in_rally(self, pick):
        links = self._ok_links(RecordType.FEATURE)
        link = links[pick % len(links)]
        name = self._name("S")
        with sandbox_client(self.sandbox) as client:
            made = client.create(
                "HierarchicalRequirement",
                {
                    "Name": name,
                    "Project": f"/project/{self.project_oid}",
                    "PortfolioItem": _path(link.rally_type, link.rally_oid),
                },
                fetch=["ObjectID"],
            )
        self.rally_made[made.object_id] = {"type": "story", "name": name, "parent": link.rally_oid}

    @precondition(lambda self: self._ok_links(RecordType.INITIATIVE))
    @rule(pick=st.integers(0, 20))
    def new_feature_in_rally(self, pick):
        links = self._ok_links(RecordType.INITIATIVE)
        link = links[pick % len(links)]
        name = self._name("N")
        with sandbox_client(self.sandbox) as client:
            made = client.create(
                "PortfolioItem/Feature",
                {
                    "Name": name,
                    "Project": f"/project/{self.project_oid}",
                    "Parent": _path(link.rally_type, link.rally_oid),
                },
                fetch=["ObjectID"],
            )
        self.rally_made[made.object_id] = {
            "type": "feature",
            "name": name,
            "parent": link.rally_oid,
        }

    @precondition(lambda self: self._ok_links(RecordType.FEATURE, RecordType.REQUIREMENT))
    @rule(pick=st.integers(0, 20))
    def delete_in_rally(self, pick):
        links = self._ok_links(RecordType.FEATURE, RecordType.REQUIREMENT)
        link = links[pick % len(links)]
        with sandbox_client(self.sandbox) as client:
            client.delete(_path(link.rally_type, link.rally_oid))
        self.deleted.add(link.rally_oid)
        # Rally rings the doorbell, as it does for a deletion.
        event = self._deliver(link.integration, "Deleted", link.rally_oid)
        self._under_faults(run_catch_up, event.integration_id)  # what the cluster runs

    @precondition(lambda self: self._ok_links(RecordType.FEATURE))
    @rule(pick=st.integers(0, 20))
    def move_in_rally(self, pick):
        """Into the child project Team A (still the integration's), or back."""
        links = self._ok_links(RecordType.FEATURE)
        link = links[pick % len(links)]
        with sandbox_client(self.sandbox) as client:
            path = _path(link.rally_type, link.rally_oid)
            now = client.read(path, fetch=["Project"]).ref_of("Project").object_id
            target = self.project_oid if now == self.team_a_oid else self.team_a_oid
            client.update(path, {"Project": f"/project/{target}"})

    @precondition(lambda self: self._ok_links())
    @rule(pick=st.integers(0, 50), twice=st.booleans())
    def webhook_delivered_again(self, pick, twice):
        """An Updated delivery (twice with one message id, or once, late: after the change)."""
        links = self._ok_links()
        link = links[pick % len(links)]
        event = self._deliver(link.integration, "Updated", link.rally_oid, times=2 if twice else 1)
        self._under_faults(run_catch_up, event.integration_id)  # what the cluster runs

    @precondition(lambda self: self._ok_links(RecordType.FEATURE, RecordType.REQUIREMENT))
    @rule(pick=st.integers(0, 20))
    def deleted_delivery_for_an_object_rally_still_holds(self, pick):
        """A delivery is a doorbell (finding 7): a late or forged Deleted is no evidence."""
        links = self._ok_links(RecordType.FEATURE, RecordType.REQUIREMENT)
        link = links[pick % len(links)]
        event = self._deliver(link.integration, "Deleted", link.rally_oid)
        self._under_faults(run_catch_up, event.integration_id)  # what the cluster runs

    @precondition(lambda self: self._ok_links())
    @rule(which=st.integers(0, 1), pick=st.integers(0, 20))
    def import_from_rally(self, which, pick):
        """An owner searches Rally for the example's word and imports one record found."""
        integration = self._integration(which)
        try:
            search = start_search(integration=integration, user=self.owner, text=self.word)
        except SearchError:
            return
        self._under_faults(run_search, search.pk)
        search.refresh_from_db()
        # Not what the machine unlinked on purpose: importing that is a copy asked for.
        once_linked = self.unlinked_oids
        rows = [
            row
            for row in search_rows(search)
            if row.importable and row.entry["oid"] not in once_linked
        ]
        if not rows:
            return
        chosen = rows[pick % len(rows)].entry["oid"]
        import_chosen(search=search, user=self.owner, oids=[chosen])

    @precondition(lambda self: self._ok_links())
    @rule(which=st.integers(0, 1), action=st.sampled_from(["ours", "theirs", "import"]))
    def compare_and_resolve(self, which, action):
        """An owner compares with Rally and resolves every line of one kind one way."""
        integration = self._integration(which)
        comparison = start_comparison(integration=integration, user=self.owner)
        self._under_faults(run_comparison, comparison.pk)
        lines = [
            line.pk
            for line in Difference.objects.filter(
                comparison=comparison, kind=ACTIONS[action], resolution=""
            )
            if action != "import" or line.rally_oid not in self.unlinked_oids
        ]
        if not lines:
            return
        try:
            resolve(integration=integration, user=self.owner, difference_ids=lines, action=action)
        except ResolveError:
            return
        self._under_faults(drain_outbox, integration.pk)

    @rule()
    def settle(self):
        """Faults end, the queue is let go at once, drains and catch-ups run: then all holds."""
        with self._remembered("at rest"):
            self._settle()
            self._check_at_rest()

    @contextlib.contextmanager
    def _remembered(self, where: str):
        try:
            yield
        except Exception as error:
            type(self).failures_seen.append(f"{where}: {type(error).__name__}: {error}"[:2000])
            raise

    # -- what holds at any moment --------------------------------------------------------------

    @invariant()
    def what_holds_at_any_moment(self):
        type(self).steps_run += 1
        if not hasattr(self, "plat"):
            return
        with self._remembered("after a step"):
            self.one_rally_object_one_record()
            self.no_copies_in_aharally()
            self.nothing_made_twice_in_rally()
            self.nothing_left_in_flight_by_a_drain_that_finished()

    def one_rally_object_one_record(self):
        ok = list(self._links(state=LinkState.OK).values("rally_oid", "record_type", "record_id"))
        by_oid = Counter(link["rally_oid"] for link in ok)
        twice = {oid: n for oid, n in by_oid.items() if n > 1}
        shared = [
            (row["rally_oid"], row["record_type"], row["record_id"])
            for row in ok
            if row["rally_oid"] in twice
        ]
        assert not twice, f"Rally objects linked to more than one record: {shared}"
        oids_of: dict = {}
        for link in ok:
            oids_of.setdefault((link["record_type"], link["record_id"]), set()).add(
                link["rally_oid"]
            )
        many = {key: oids for key, oids in oids_of.items() if len(oids) > 1}
        assert not many, f"records linked to more than one Rally object: {many}"

    def no_copies_in_aharally(self):
        """Every record the machine did not make here was imported from an object the machine
        made in Rally, and no such object came in twice."""
        records = self._workspace_records()
        foreign = records - self.mine
        links = list(self._links().values("rally_oid", "record_type", "record_id"))
        oid_of = {(row["record_type"], row["record_id"]): row["rally_oid"] for row in links}
        strays = sorted(
            (key, self._label(key), oid_of.get(key))
            for key in foreign
            if oid_of.get(key) not in self.rally_made
        )
        assert not strays, (
            "records in aharally that nobody made here nor in Rally (copies of what aharally "
            f"sent?): {strays}"
        )
        per_object = Counter(oid_of[key] for key in records if oid_of.get(key) in self.rally_made)
        again = {oid: self.rally_made[oid]["name"] for oid, n in per_object.items() if n > 1}
        assert not again, f"Rally objects made in Rally imported more than once: {again}"

    def nothing_made_twice_in_rally(self):
        names = Counter(o["Name"] for o in self._rally_objects().values())
        twice = {name: n for name, n in names.items() if n > 1}
        assert not twice, f"names that exist more than once in Rally: {twice}"

    def nothing_left_in_flight_by_a_drain_that_finished(self):
        """In-process, every drain has returned: only a 'killed worker' leaves rows in flight."""
        left = list(
            OutboxItem.objects.filter(
                integration__in=self.integrations, state=OutboxState.IN_FLIGHT
            )
            .exclude(claim_token__in=self.abandoned)
            .values_list("kind", "record_type", "record_id", "error_message")
        )
        assert not left, f"rows in flight after every drain returned: {left}"

    # -- at rest ----------------------------------------------------------------------

    def teardown(self):
        try:
            if hasattr(self, "plat"):
                with self._remembered("at the end"):
                    self._settle()
                    self._check_at_rest()
        finally:
            self.sandbox.admin("DELETE", "/sandbox-admin/faults")

    def _settle(self) -> None:
        self.faults = []
        self.sandbox.admin("DELETE", "/sandbox-admin/faults")
        self.expire_discussion_sweep()
        stale = timezone.now() - timedelta(seconds=django_settings.SYNC_CLAIM_TIMEOUT_SECONDS + 5)
        for _ in range(6):
            rows = OutboxItem.objects.filter(integration__in=self.integrations)
            # The killed workers' rows: their claim timed out long ago.
            rows.filter(state=OutboxState.IN_FLIGHT, claim_token__in=self.abandoned).update(
                claimed_at=stale
            )
            rows.filter(state=OutboxState.QUEUED).update(not_before=timezone.now())
            for integration in self.integrations:
                drain_outbox(integration.pk)
            for integration in self.integrations:
                pull_updates(integration.pk)
            if not rows.filter(state__in=[OutboxState.QUEUED, OutboxState.IN_FLIGHT]).exists():
                for integration in self.integrations:
                    pull_updates(integration.pk)  # what the last drains wrote comes back as echo
                if not rows.filter(state=OutboxState.QUEUED).exists():
                    return

    def _check_at_rest(self) -> None:
        self.one_rally_object_one_record()
        self.no_copies_in_aharally()
        self.nothing_made_twice_in_rally()
        in_flight = list(
            OutboxItem.objects.filter(
                integration__in=self.integrations, state=OutboxState.IN_FLIGHT
            ).values_list("kind", "record_type", "record_id")
        )
        assert not in_flight, f"at rest, rows still in flight: {in_flight}"
        self._every_sent_record_is_linked()
        self._every_object_made_in_rally_under_a_linked_parent_is_imported_once()
        self._names_agree_or_a_conflict_says_why()
        self._stories_sit_under_their_features()
        self.check_discussion_at_rest()

    def _every_sent_record_is_linked(self) -> None:
        missing = []
        for key in sorted(self.sent - self.unlinked - self.refused_sends):
            record_type, pk = key
            link = self._links(record_type=record_type, record_id=pk).first()
            if link is not None and link.rally_oid in self.deleted:
                continue  # deleted in Rally: a broken link is right
            if link is not None and link.state == LinkState.OK:
                continue
            row = (
                OutboxItem.objects.filter(
                    integration__in=self.integrations, record_type=record_type, record_id=pk
                )
                .order_by("-pk")
                .first()
            )
            if row is not None and row.state in (
                OutboxState.AWAITING_APPROVAL,
                OutboxState.REJECTED,
            ):
                continue  # waiting for a reviewer, or refused by one
            if record_type == RecordType.REQUIREMENT and self._feature_not_linked(pk):
                continue  # its feature waits, was refused, or was deleted in Rally
            if (
                record_type == RecordType.INITIATIVE
                and not self._links(
                    record_type=RecordType.FEATURE,
                    state=LinkState.OK,
                    record_id__in=Feature.objects.filter(initiative_id=pk).values("pk"),
                ).exists()
            ):
                continue  # sent as a parent only: none of its features is in Rally yet
            missing.append(
                (
                    self._label(key),
                    link and (link.state, link.state_reason),
                    row and (row.kind, row.state, row.error_kind, row.error_message[:160]),
                )
            )
        assert not missing, f"at rest, records sent but not linked: {missing}"

    def _feature_not_linked(self, requirement_pk: int) -> bool:
        feature_id = (
            Requirement.objects.filter(pk=requirement_pk)
            .values_list("feature_id", flat=True)
            .first()
        )
        link = self._links(record_type=RecordType.FEATURE, record_id=feature_id).first()
        return link is None or link.state != LinkState.OK or link.rally_oid in self.deleted

    def _every_object_made_in_rally_under_a_linked_parent_is_imported_once(self) -> None:
        links = list(self._links().values("rally_oid", "record_type", "record_id", "state"))
        ok_oids = {row["rally_oid"] for row in links if row["state"] == LinkState.OK}
        records_of = Counter(row["rally_oid"] for row in links)
        lacking = []
        for oid, made in self.rally_made.items():
            if made["parent"] is None or oid in self.deleted:
                continue
            if made["parent"] not in ok_oids or made["parent"] in self.deleted:
                continue  # its parent is not (or no longer) linked: nothing to import it under
            if records_of[oid] != 1:
                lacking.append((made["name"], records_of[oid]))
        assert not lacking, (
            f"at rest, objects made in Rally under a linked parent not imported exactly once: "
            f"{lacking}"
        )

    def _names_agree_or_a_conflict_says_why(self) -> None:
        held = self._rally_objects()
        differ = []
        for link in self._links(state=LinkState.OK).exclude(rally_oid__in=self.deleted):
            rally = held.get(link.rally_oid)
            record = MODELS[link.record_type].objects.filter(pk=link.record_id).first()
            if rally is None or record is None or rally["Name"] == record.name:
                continue
            if Conflict.objects.filter(link=link, field="name", state=ConflictState.OPEN).exists():
                continue
            if link.rejected.get("name") == record.name:
                continue
            if OutboxItem.objects.filter(
                integration=link.integration,
                record_type=link.record_type,
                record_id=link.record_id,
                state=OutboxState.AWAITING_APPROVAL,
            ).exists():
                continue
            row = (
                OutboxItem.objects.filter(
                    integration=link.integration,
                    record_type=link.record_type,
                    record_id=link.record_id,
                )
                .order_by("-pk")
                .first()
            )
            differ.append(
                (
                    self._label((link.record_type, link.record_id)),
                    record.name,
                    rally["Name"],
                    link.baseline.get("name"),
                    row and (row.kind, row.state, row.error_kind, row.error_message[:160]),
                )
            )
        assert not differ, (
            "at rest, names differ with no conflict, approval or rejection to say why "
            f"(record, here, in Rally, agreed, last row): {differ}"
        )

    def _stories_sit_under_their_features(self) -> None:
        """A linked requirement's story is in its feature's Rally object, whatever Rally
        deleted and aharally made again (Rally empties the parent of a deleted feature's
        stories)."""
        features = {
            (link.integration_id, link.record_id): link.rally_oid
            for link in self._ok_links(RecordType.FEATURE)
        }
        stories = {
            obj.object_id: obj.ref_of("PortfolioItem")
            for obj in rally_objects(
                self.sandbox,
                "HierarchicalRequirement",
                self.word,
                fetch=["ObjectID", "Name", "PortfolioItem"],
            )
        }
        astray = []
        for link in self._ok_links(RecordType.REQUIREMENT):
            feature_id = Requirement.objects.get(pk=link.record_id).feature_id
            expected = features.get((link.integration_id, feature_id))
            if expected is None or link.rally_oid not in stories:
                continue  # its feature is not (or no longer) in Rally
            held = stories[link.rally_oid]
            if held is None or held.object_id != expected:
                astray.append((self._label((link.record_type, link.record_id)), expected, held))
        assert not astray, f"at rest, stories outside their feature in Rally: {astray}"

    # -- reading both sides ------------------------------------------------------------------------

    def _workspace_records(self) -> set[tuple[str, int]]:
        spaces = [self.platform, self.company]
        keys = {
            (RecordType.FEATURE, pk)
            for pk in Feature.objects.filter(workspace__in=spaces).values_list("pk", flat=True)
        }
        keys |= {
            (RecordType.REQUIREMENT, pk)
            for pk in Requirement.objects.filter(feature__workspace__in=spaces).values_list(
                "pk", flat=True
            )
        }
        keys |= {
            (RecordType.INITIATIVE, pk)
            for pk in Initiative.objects.filter(workspace__in=spaces).values_list("pk", flat=True)
        }
        return keys

    def _label(self, key) -> str:
        record_type, pk = key
        record = MODELS[record_type].objects.filter(pk=pk).first()
        return f"{record.reference} “{record.name}”" if record else f"{record_type} {pk}"

    def _rally_objects(self) -> dict[int, dict]:
        held = {}
        for rally_type in RALLY_TYPES.values():
            for obj in rally_objects(self.sandbox, rally_type, self.word):
                held[obj.object_id] = {"Name": obj["Name"], "type": rally_type}
        return held


def _hypothesis_settings(**overrides) -> settings:
    """The machines' settings (`tests/sync/test_two_rallys_machine.py` overrides its budget)."""
    return settings(
        **{
            "max_examples": EXAMPLES,
            "stateful_step_count": STEPS,
            "deadline": None,
            "derandomize": not MINUTES,
            "database": None,
            "suppress_health_check": list(HealthCheck),
            "print_blob": False,
            **overrides,
        }
    )


def test_the_sync_keeps_its_invariants_whatever_people_rally_and_faults_do(
    rally_sandbox, machine_settings
):
    from tests.factories import make_user

    SyncMachine.sandbox = rally_sandbox
    SyncMachine.owner = make_user(f"machine-{token()}@example.com")
    SyncMachine.steps_run = SyncMachine.examples_run = 0
    SyncMachine.made = Counter()
    try:
        if not MINUTES:
            run_state_machine_as_test(SyncMachine, settings=_hypothesis_settings())
            print(f"{SyncMachine.examples_run} examples, {_steps()} steps")
            print(f"comments and posts changed: {dict(SyncMachine.made)}")
            return
        _soak(MINUTES)
    finally:
        rally_sandbox.admin("DELETE", "/sandbox-admin/faults")


def _steps() -> int:
    # The step counter is an invariant: it also runs once after each example's set-up.
    return SyncMachine.steps_run - SyncMachine.examples_run


def _soak(minutes: float) -> None:
    """Fresh random sequences until time is up; each violation (shrunk) to the report."""
    ends = time.monotonic() + minutes * 60
    violations = []
    rounds = 0
    while time.monotonic() < ends:
        rounds += 1
        SyncMachine.failures_seen = []
        try:
            run_state_machine_as_test(SyncMachine, settings=_hypothesis_settings())
        except BaseException as error:  # a violation, or the sync crashed
            if isinstance(error, KeyboardInterrupt):
                raise
            found = error.exceptions if isinstance(error, BaseExceptionGroup) else [error]
            violations.extend(
                {
                    "error": f"{type(one).__name__}: {one}"[:4000],
                    "sequence": _sequence(getattr(one, "__notes__", [])),
                    # The first failures as they happened (before any replay).
                    "seen": list(dict.fromkeys(SyncMachine.failures_seen))[:5],
                }
                for one in found
            )
        _write_report(rounds, violations)
    assert not violations, f"{len(violations)} violation(s): see {REPORT or 'the output'}"


def _sequence(notes: list[str]) -> str:
    """Hypothesis' notes on a failure: the steps only (no invariant calls, no explanation)."""
    text = "\n".join(notes).split("\nExplanation:")[0]
    return "\n".join(line for line in text.splitlines() if "what_holds_at_any_moment" not in line)


def _write_report(rounds: int, violations: list[dict]) -> None:
    if not REPORT:
        return
    with open(REPORT, "w") as out:
        json.dump(
            {
                "rounds": rounds,
                "examples": SyncMachine.examples_run,
                "steps": _steps(),
                "discussion_changes": dict(SyncMachine.made),
                "violations": violations,
            },
            out,
            indent=1,
        )
