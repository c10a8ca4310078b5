"""The discussion and attachment calls of ``RallyClient``: an artifact's posts
(``ConversationPost``) and files (``Attachment`` + ``AttachmentContent``).

Reference: https://rally1.rallydev.com/slm/doc/webservice/ (ConversationPost, Attachment,
AttachmentContent); the shapes as WSAPI.md §4.7-4.8 records them (pyral's addAttachment).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from aharally.rally.errors import RallyError, RallyNotFound, RallyValidationError
from aharally.rally.objects import RallyObject, RallyRef
from aharally.rally.query import all_of, where

if TYPE_CHECKING:
    from aharally.rally.client import RallyClient, RefLike

# Rally's limit on one file, in bytes (pyral: "to match Agile Central limit").
MAX_ATTACHMENT_BYTES = 50_000_000
# Artifacts named in one query of posts: a page of changed artifacts is read in
# ceil(n / POSTS_QUERY_ARTIFACTS) requests (plus paging), never one per artifact; the chunk
# keeps the query string well under the URL lengths proxies accept.
POSTS_QUERY_ARTIFACTS = 100
POST_FETCH = ("Artifact", "Text", "User", "PostNumber", "CreationDate", "ObjectID")
ATTACHMENT_FETCH = (
    "Artifact", "Name", "Content", "ContentType", "Size", "User", "CreationDate", "ObjectID",
)  # fmt: skip


class AttachmentTooLarge(RallyValidationError):
    """A file over Rally's limit: refused before anything is sent."""

    def __init__(self, size: int) -> None:
        super().__init__(
            f"The file is {size:,} bytes: Rally accepts at most {MAX_ATTACHMENT_BYTES:,} bytes."
        )
        self.size = size


def _artifact_oid(artifact: RefLike) -> int:
    ref = artifact.ref if isinstance(artifact, RallyObject) else RallyRef.parse(artifact)
    oid = ref.object_id
    if oid is None:
        raise ValueError(f"Not an artifact reference with an ObjectID: {artifact!r}")
    return oid


class DiscussionMixin:
    # -- posts ------------------------------------------------------------------------------

    def create_post(
        self: RallyClient, artifact: RefLike, text: str, *, user: RefLike | None = None
    ) -> RallyObject:
        """Post ``text`` (HTML) to the artifact's Discussion; never retried (a create).

        ``user``: the post's author when not the credential's own user (Rally may refuse
        it). Reference: POST /conversationpost/create {"ConversationPost": {Artifact, Text}}.
        """
        fields: dict[str, object] = {"Artifact": artifact, "Text": text}
        if user is not None:
            fields["User"] = user
        return self.create("ConversationPost", fields, fetch=list(POST_FETCH))

    def update_post(self: RallyClient, post: RefLike, text: str) -> RallyObject:
        """Replace a post's ``Text`` (HTML); not retried. Rally's documentation is silent on
        editing posts through WSAPI (WSAPI.md §4.8): a refusal comes back as a
        ``RallyValidationError`` with Rally's reason, a post gone as ``RallyNotFound``.

        Reference: POST /conversationpost/<ObjectID> {"ConversationPost": {"Text": …}}.
        """
        return self.update(post, {"Text": text}, fetch=list(POST_FETCH))

    def delete_discussion_item(self: RallyClient, item: RefLike) -> bool:
        """Delete a post or an attachment; False when Rally has it no more (deleted already,
        by someone else or by an attempt whose answer was lost).

        Reference: DELETE /conversationpost/<ObjectID>, DELETE /attachment/<ObjectID>.
        """
        try:
            self.delete(item)
        except RallyNotFound:
            return False
        return True

    def discussion_items(
        self: RallyClient,
        type_path: str,
        object_ids: Iterable[int],
        *,
        fetch: Sequence[str] = ("ObjectID",),
        workspace: RefLike | None = None,
    ) -> Iterator[RallyObject]:
        """The posts (or attachments) of ``object_ids`` Rally still has: one query per
        POSTS_QUERY_ARTIFACTS ObjectIDs (an ``in`` list), whatever their artifacts.

        Reference: GET /conversationpost?query=(ObjectID in …)&fetch=….
        """
        oids = sorted(set(object_ids))
        for start in range(0, len(oids), POSTS_QUERY_ARTIFACTS):
            yield from self.query(
                type_path,
                query=where("ObjectID", "in", oids[start : start + POSTS_QUERY_ARTIFACTS]),
                fetch=list(fetch),
                workspace=workspace,
            )

    def posts(
        self: RallyClient,
        artifacts: Iterable[RefLike],
        *,
        since: datetime | None = None,
        workspace: RefLike | None = None,
    ) -> Iterator[RallyObject]:
        """Posts on any of ``artifacts`` (created after ``since``), oldest first per chunk:
        one query per POSTS_QUERY_ARTIFACTS artifacts, whole pages of 2,000.

        Reference: GET /conversationpost?query=(Artifact.ObjectID in …)&order=…
        """
        oids = sorted({_artifact_oid(artifact) for artifact in artifacts})
        for start in range(0, len(oids), POSTS_QUERY_ARTIFACTS):
            chunk = oids[start : start + POSTS_QUERY_ARTIFACTS]
            # An `in` list: a hundred `=` conditions ORed are past the request line servers
            # take (HTTP 414), `query.py`.
            query = where("Artifact.ObjectID", "in", chunk)
            if since is not None:
                query = all_of(query, where("CreationDate", ">", since))
            yield from self.query(
                "ConversationPost",
                query=query,
                fetch=list(POST_FETCH),
                order=["CreationDate", "ObjectID"],
                workspace=workspace,
            )

    # -- attachments ------------------------------------------------------------------------

    def attach(
        self: RallyClient,
        artifact: RefLike,
        *,
        name: str,
        data: bytes,
        content_type: str = "application/octet-stream",
    ) -> RallyObject:
        """Attach ``data`` to the artifact: two creates, the base64 content then the
        attachment naming it. Neither is retried. A file over the limit raises
        ``AttachmentTooLarge`` before any request.

        When the second create fails the first one's object is deleted (best effort), so no
        orphan content is left behind. Reference: POST /attachmentcontent/create,
        POST /attachment/create.
        """
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise AttachmentTooLarge(len(data))
        content = self.create(
            "AttachmentContent", {"Content": base64.b64encode(data).decode("ascii")}
        )
        try:
            return self.create(
                "Attachment",
                {
                    "Artifact": artifact,
                    "Content": content,
                    "Name": name,
                    "ContentType": content_type,
                    "Size": len(data),
                },
                fetch=list(ATTACHMENT_FETCH),
            )
        except (RallyValidationError, RallyNotFound):
            # Refused: the content is nobody's. (An unknown outcome keeps it: the attachment
            # may exist and need it; the caller looks before sending again.)
            # The refusal is what the caller needs to hear, not a failed clean-up.
            with contextlib.suppress(RallyError):
                self.delete(content)
            raise

    def attachments(
        self: RallyClient, artifact: RefLike, *, fetch: Sequence[str] = ATTACHMENT_FETCH
    ) -> list[RallyObject]:
        """The artifact's attachments (without their bytes).

        Reference: GET /<type>/<ObjectID>/Attachments.
        """
        return list(self.collection(artifact, "Attachments", fetch=list(fetch)))

    def attachments_on(
        self: RallyClient,
        artifacts: Iterable[RefLike] = (),
        *,
        since: datetime | None = None,
        workspace: RefLike | None = None,
        projects: Sequence[int] | None = None,
        fetch: Sequence[str] = ATTACHMENT_FETCH,
    ) -> Iterator[RallyObject]:
        """Attachments on any of ``artifacts`` (created after ``since``) without their bytes,
        as ``posts`` reads posts: one query per POSTS_QUERY_ARTIFACTS artifacts. With no
        artifacts and a ``since``, every attachment of the workspace created since then (on
        artifacts of ``projects`` when given, as ``posts_since``).

        Reference: GET /attachment?query=(Artifact.ObjectID in …)&order=CreationDate.
        """
        yield from self._discussion_query(
            "Attachment", artifacts, since, workspace, fetch, projects=projects
        )

    def posts_since(
        self: RallyClient,
        since: datetime,
        *,
        workspace: RefLike | None = None,
        projects: Sequence[int] | None = None,
    ) -> Iterator[RallyObject]:
        """Every post of the workspace created after ``since``, oldest first, 2,000 a page:
        Rally's post on an artifact leaves the artifact's LastUpdateDate as it was, so a
        catch-up finds new posts by their own CreationDate.

        ``projects``: only posts on artifacts of these projects (by ObjectID, ``in`` lists of
        POSTS_QUERY_ARTIFACTS: a post has no Project of its own, so Rally's project scoping
        does not apply to it). Reference: GET /conversationpost?query=((CreationDate > …)
        AND (Artifact.Project.ObjectID in …)).
        """
        yield from self._discussion_query(
            "ConversationPost", (), since, workspace, POST_FETCH, projects=projects
        )

    def _discussion_query(
        self: RallyClient, type_path, artifacts, since, workspace, fetch, *, projects=None
    ):
        oids = sorted({_artifact_oid(artifact) for artifact in artifacts})
        size = POSTS_QUERY_ARTIFACTS
        chunks = [oids[i : i + size] for i in range(0, len(oids), size)]
        if not chunks and since is None:
            return
        projects = sorted(set(projects)) if projects is not None else None
        if projects == []:
            return  # no project: nothing of ours
        within = (
            [projects[i : i + size] for i in range(0, len(projects), size)]
            if projects is not None
            else [None]
        )
        for chunk in chunks or [None]:
            query = None
            if chunk is not None:
                query = where("Artifact.ObjectID", "in", chunk)
            if since is not None:
                created = where("CreationDate", ">", since)
                query = created if query is None else all_of(query, created)
            for scope in within:
                yield from self.query(
                    type_path,
                    query=(
                        query
                        if scope is None
                        else all_of(query, where("Artifact.Project.ObjectID", "in", scope))
                    ),
                    fetch=list(fetch),
                    order=["CreationDate", "ObjectID"],
                    workspace=workspace,
                )

    def attachment_bytes(self: RallyClient, attachment: RallyObject | RefLike) -> bytes:
        """The file's bytes: reads its AttachmentContent and decodes the base64.

        Reference: GET /attachmentcontent/<ObjectID>.
        """
        if not isinstance(attachment, RallyObject) or "Content" not in attachment:
            attachment = self.read(attachment, fetch=["Content"])
        content_ref = attachment.ref_of("Content")
        if content_ref is None:
            raise RallyValidationError("The attachment has no content.")
        content = self.read(content_ref, fetch=["Content"])
        try:
            return base64.b64decode(content.get("Content") or "", validate=True)
        except (binascii.Error, ValueError) as error:
            raise RallyValidationError(f"The attachment's content is not base64: {error}") from None
