"""The state machine's comments and posts (issue 17): people comment on linked features here
and post on them in Rally, under the same faults as everything else; nothing is said twice on
either side, and at rest each is on both sides once (tests/sync/test_invariants_machine.py
mixes these rules into its machine)."""

from __future__ import annotations

from collections import Counter

from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from aharally.discussion.models import Comment
from aharally.discussion.services import create_comment
from aharally.rally.query import where
from aharally.records.models import Feature
from aharally.sync.models import Link, LinkState, OutboxItem, OutboxState
from aharally.workspaces.models import RecordType
from tests.sync.support import sandbox_client


class DiscussionRules:
    """Rules and checks over `self.said`: marker → (where it was said, the Rally object)."""

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

    @precondition(lambda self: self._ok_links(RecordType.FEATURE))
    @rule(pick=st.integers(0, 20))
    def post_in_rally(self, pick):
        links = self._feature_links()
        link = links[pick % len(links)]
        marker = self._marker("rally")
        with sandbox_client(self.sandbox) as client:
            client.create_post(f"/{link.rally_type.lower()}/{link.rally_oid}", f"<p>{marker}</p>")
        self._said()[marker] = ("rally", link.rally_oid)

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
        return Counter(m for m in self._said() for text in texts if f"{m}<" in text)

    def _comments(self) -> Counter:
        bodies = Comment.objects.filter(body__contains=self.word).values_list("body", flat=True)
        return Counter(m for m in self._said() for body in bodies if f"{m}<" in body)

    @invariant()
    def nothing_said_twice(self):
        if not hasattr(self, "plat") or not self._said():
            return
        twice_there = {m: n for m, n in self._posts().items() if n > 1}
        assert not twice_there, f"comments posted more than once in Rally: {twice_there}"
        twice_here = {m: n for m, n in self._comments().items() if n > 1}
        assert not twice_here, f"posts brought here more than once: {twice_here}"

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
        missing = []
        for marker, (side, oid) in self._said().items():
            if oid in self.deleted or oid not in linked:
                continue
            if side == "here" and any(marker in (text or "") for text in held_back):
                continue
            if (posts[marker], comments[marker]) != (1, 1):
                missing.append((marker, side, posts[marker], comments[marker]))
        assert not missing, (
            f"at rest, comments or posts not on both sides once (marker, where, in Rally, "
            f"here): {missing}"
        )
