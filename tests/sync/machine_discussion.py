"""The state machine's comments and posts (issue 17): people comment on linked features here
and post on them in Rally, edit and delete them on either side, under the same faults as
everything else; nothing is said twice on either side, nothing deleted comes back, and at
rest each is on both sides once with the same text, or on neither when deleted
(tests/sync/test_invariants_machine.py mixes these rules into its machine).

A comment's text is `<p>marker</p><p>vN</p>`: the marker names it, N its latest edit (on
either side; the later edit wins, so at rest both sides hold the same N)."""

from __future__ import annotations

import re
from collections import Counter
from itertools import count

from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from aharally.discussion.models import Comment
from aharally.discussion.services import create_comment, delete_comment, edit_comment
from aharally.rally.query import where
from aharally.records.models import Feature
from aharally.sync.incoming.discussion_changes import SWEPT
from aharally.sync.models import (
    DiscussionPair,
    IncomingEvent,
    Link,
    LinkState,
    OutboxItem,
    OutboxState,
    PullCursor,
)
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import Capability, Membership, RecordType
from tests.sync.support import sandbox_client

_versions = count(2)


def _version(marker: str, text: str) -> int:
    """The N of `<p>marker</p><p>vN</p>` (1 when never edited), or None without the marker."""
    if f"{marker}<" not in text:
        return None
    found = re.search(re.escape(marker) + r"</p>\s*<p>v(\d+)</p>", text)
    return int(found.group(1)) if found else 1


def _with_version(marker: str, text: str, version: int) -> str:
    text = re.sub(re.escape(marker) + r"</p>\s*<p>v\d+</p>", f"{marker}</p>", text)
    return text.replace(f"{marker}</p>", f"{marker}</p><p>v{version}</p>", 1)


class DiscussionRules:
    """Rules and checks over `self.said`: marker → (where it was said, the Rally object), and
    `self.gone`: markers deleted, here or in Rally. `made` counts the edits and deletions the
    rules made (not those that found nothing to change), for the run's figures."""

    made: Counter = Counter()

    def _gone(self) -> dict[str, str]:
        if not hasattr(self, "gone"):
            self.gone = {}
        return self.gone

    def _said(self) -> dict[str, tuple[str, int]]:
        if not hasattr(self, "said"):
            self.said = {}
        return self.said

    def _marker(self, where: str) -> str:
        return f"{self.word}-{where}{len(self._said()) + 1}"

    def _feature_links(self):
        return [
            link
            for link in self._ok_links(RecordType.FEATURE)
            if link.integration_id in {i.pk for i in self.integrations}
        ]

    @precondition(lambda self: self._ok_links(RecordType.FEATURE))
    @rule(pick=st.integers(0, 20))
    def comment_here(self, pick):
        links = self._feature_links()
        link = links[pick % len(links)]
        marker = self._marker("here")
        feature = Feature.objects.get(pk=link.record_id)
        create_comment(record=feature, body=f"<p>{marker}</p>", user=self.owner)
        self._said()[marker] = ("here", link.rally_oid)
        # The cluster drains at once, as it does after any change (under the faults on now).
        self._under_faults(drain_outbox, link.integration_id)

    @precondition(lambda self: self.features)
    @rule(
        pick=st.integers(0, 20),
        change=st.sampled_from(["edit here", "delete here", "edit in Rally", "delete in Rally"]),
        delivered=st.booleans(),
    )
    def comment_and_change_it(self, pick, change, delivered):
        """A conversation's usual course in one step (else the sequences rarely reach it):
        a feature sent if none is linked yet, a comment on one, sent (under the faults on
        now), then changed on one side."""
        if not self._ok_links(RecordType.FEATURE):
            self.send_one(pick)  # the machine's own Send to Rally
            if not self._ok_links(RecordType.FEATURE):
                return
        self.comment_here(pick)
        marker = list(self._said())[-1]
        if change == "edit here":
            self.edit_comment_here(self._alive("here").index(marker))
        elif change == "delete here":
            self.delete_comment_here(self._alive().index(marker))
        elif change == "edit in Rally":
            self.edit_post_in_rally(self._alive().index(marker), delivered)
        else:
            self.delete_post_in_rally(self._alive().index(marker), delivered)

    @precondition(lambda self: self._ok_links(RecordType.FEATURE))
    @rule(pick=st.integers(0, 20))
    def post_in_rally(self, pick):
        links = self._feature_links()
        link = links[pick % len(links)]
        marker = self._marker("rally")
        with sandbox_client(self.sandbox) as client:
            client.create_post(f"/{link.rally_type.lower()}/{link.rally_oid}", f"<p>{marker}</p>")
        self._said()[marker] = ("rally", link.rally_oid)

    def _alive(self, side: str | None = None) -> list[str]:
        return [
            marker
            for marker, (where, oid) in sorted(self._said().items())
            if marker not in self._gone()
            and oid not in self.deleted
            and (side is None or where == side)
        ]

    def _member(self, comment):
        membership = Membership.objects.get(workspace_id=comment.workspace_id, user=self.owner)
        assert membership.can(Capability.CONFIGURE)
        return membership

    def _comment(self, marker: str):
        return Comment.objects.filter(body__contains=f"{marker}<").first()

    def _record_of(self, comment):
        return Feature.objects.get(pk=comment.record_id)

    @precondition(lambda self: self._alive("here"))
    @rule(pick=st.integers(0, 20))
    def edit_comment_here(self, pick):
        markers = self._alive("here")
        marker = markers[pick % len(markers)]
        comment = self._comment(marker)
        if comment is None or comment.author_id != self.owner.pk:
            return
        body = _with_version(marker, comment.body, next(_versions))
        edit_comment(
            comment=comment,
            record=self._record_of(comment),
            body=body,
            membership=self._member(comment),
        )
        type(self).made["edited here"] += 1
        self._drain_all()

    @precondition(lambda self: self._alive())
    @rule(pick=st.integers(0, 20))
    def delete_comment_here(self, pick):
        markers = self._alive()
        marker = markers[pick % len(markers)]
        comment = self._comment(marker)
        if comment is None:
            return  # not brought yet: nothing here to delete
        delete_comment(
            comment=comment, record=self._record_of(comment), membership=self._member(comment)
        )
        self._gone()[marker] = "here"
        type(self).made["deleted here"] += 1
        self._drain_all()

    def _drain_all(self) -> None:
        for integration in self.integrations:
            self._under_faults(drain_outbox, integration.pk)

    def _post(self, client, marker: str):
        """The post of `marker` once the sync has paired it. (One made by a create whose answer
        was lost, not yet found again, is left alone: its retry looks for the text it sent,
        and a post edited or deleted meanwhile is sent again — as a record would be.)"""
        found = list(
            client.query(
                "ConversationPost",
                query=where("Text", "contains", f"{marker}<"),
                fetch=["Text", "Artifact"],
                workspace=f"/workspace/{self.workspace_oid}",
            )
        )
        if not found or not DiscussionPair.objects.filter(rally_oid=found[0].object_id).exists():
            return None
        return found[0]

    def _ring(self, client, post, delivered: bool) -> None:
        """The sandbox's webhook would tell of it: the machine's catch-ups have no webhook, so
        a delivery is written as the webhook view writes it (or lost)."""
        if not delivered:
            return
        artifact = post.ref_of("Artifact").object_id
        for integration in self.integrations:
            IncomingEvent.objects.create(
                integration=integration,
                message_id=f"{self.word}-{next(_versions)}",
                action="Updated",
                object_oid=artifact,
            )

    @precondition(lambda self: self._alive())
    @rule(pick=st.integers(0, 20), delivered=st.booleans())
    def edit_post_in_rally(self, pick, delivered):
        markers = self._alive()
        marker = markers[pick % len(markers)]
        with sandbox_client(self.sandbox) as client:
            post = self._post(client, marker)
            if post is None:
                return  # not sent yet
            client.update_post(post, _with_version(marker, post["Text"], next(_versions)))
            self._ring(client, post, delivered)
        type(self).made["edited in Rally"] += 1

    @precondition(lambda self: self._alive())
    @rule(pick=st.integers(0, 20), delivered=st.booleans())
    def delete_post_in_rally(self, pick, delivered):
        markers = self._alive()
        marker = markers[pick % len(markers)]
        with sandbox_client(self.sandbox) as client:
            post = self._post(client, marker)
            if post is None:
                return
            client.delete(post)
            self._ring(client, post, delivered)
        self._gone()[marker] = "rally"
        type(self).made["deleted in Rally"] += 1

    def expire_discussion_sweep(self) -> None:
        """At rest, time passes: every pair is looked at again (a delivery lost or not)."""
        for cursor in PullCursor.objects.filter(integration__in=self.integrations):
            cursor.cursors = {k: v for k, v in cursor.cursors.items() if k != SWEPT}
            cursor.save(update_fields=["cursors"])

    def _posts(self) -> Counter:
        """How often each marker is in a post in Rally."""
        if not self._said():
            return Counter()
        with sandbox_client(self.sandbox) as client:
            texts = [
                post.get("Text") or ""
                for post in client.query(
                    "ConversationPost",
                    query=where("Text", "contains", self.word),
                    fetch=["Text"],
                    workspace=f"/workspace/{self.workspace_oid}",
                )
            ]
        self.post_versions = {
            m: _version(m, text) for m in self._said() for text in texts if f"{m}<" in text
        }
        return Counter(m for m in self._said() for text in texts if f"{m}<" in text)

    def _comments(self) -> Counter:
        bodies = Comment.objects.filter(body__contains=self.word).values_list("body", flat=True)
        self.comment_versions = {
            m: _version(m, body) for m in self._said() for body in bodies if f"{m}<" in body
        }
        return Counter(m for m in self._said() for body in bodies if f"{m}<" in body)

    @invariant()
    def nothing_said_twice(self):
        if not hasattr(self, "plat") or not self._said():
            return
        posts = self._posts()
        twice_there = {m: n for m, n in posts.items() if n > 1}
        assert not twice_there, f"comments posted more than once in Rally: {twice_there}"
        comments = self._comments()
        twice_here = {m: n for m, n in comments.items() if n > 1}
        assert not twice_here, f"posts brought here more than once: {twice_here}"
        # Deleted here, it never comes back here (a post of it deleted in Rally may still be
        # on its way to being deleted here, and the other way round, but never made again).
        back = [m for m, side in self._gone().items() if side == "here" and comments[m]]
        assert not back, f"comments deleted here that came back: {back}"
        again = [m for m, side in self._gone().items() if side == "rally" and posts[m]]
        assert not again, f"posts deleted in Rally that were posted again: {again}"

    def check_discussion_at_rest(self) -> None:
        """Each comment and post is on both sides once, unless it can't be: its artifact
        deleted or unlinked, its send waiting for a reviewer or rejected."""
        if not self._said():
            return
        posts, comments = self._posts(), self._comments()
        linked = set(
            Link.objects.filter(integration__in=self.integrations, state=LinkState.OK).values_list(
                "rally_oid", flat=True
            )
        )
        held_back = set(
            OutboxItem.objects.filter(
                integration__in=self.integrations,
                record_type="comment",
                state__in=[OutboxState.AWAITING_APPROVAL, OutboxState.REJECTED],
            ).values_list("values__text", flat=True)
        )
        missing, resurrected, unequal = [], [], []
        for marker, (side, oid) in self._said().items():
            if oid in self.deleted or oid not in linked:
                continue
            if any(marker in (text or "") for text in held_back):
                continue  # its send, edit or deletion waits for a reviewer, or was rejected
            there, here = posts[marker], comments[marker]
            if marker in self._gone():
                if there or here:
                    resurrected.append((marker, self._gone()[marker], there, here))
                continue
            if (posts[marker], comments[marker]) != (1, 1):
                missing.append((marker, side, posts[marker], comments[marker]))
            elif self.post_versions.get(marker) != self.comment_versions.get(marker):
                unequal.append(
                    (
                        marker,
                        side,
                        self.post_versions.get(marker),
                        self.comment_versions.get(marker),
                    )
                )
        assert not missing, (
            f"at rest, comments or posts not on both sides once (marker, where, in Rally, "
            f"here): {missing}"
        )
        assert not resurrected, (
            f"at rest, deleted comments or posts still (or again) on a side (marker, deleted "
            f"where, in Rally, here): {resurrected}"
        )
        assert not unequal, (
            f"at rest, a comment's text differs from its post's (marker, where, version in "
            f"Rally, here): {unequal}"
        )
