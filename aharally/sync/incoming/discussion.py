"""The catch-up's comments and attachments: Rally's new posts and files on linked artifacts.

Rally's post or file on an artifact leaves the artifact's `LastUpdateDate` as it was (the
sandbox as Rally: its webhook names the artifact's Discussion or Attachments collection, its
VersionId does not move), so the changed-artifacts query can't find them. Each kind is read
by its own `CreationDate` instead, past its own cursor (`PullCursor.cursors`
"ConversationPost" and "Attachment", with the same two seconds of overlap), on artifacts of
the integration's project (and its children unless it excludes child updates; a post has no
Project of its own, so the query names the artifacts' projects): one query a kind, 2,000 a
page, whatever the number of linked artifacts; what is on an artifact this integration links
becomes a comment (author: Rally's user's display name) or an attachment (its bytes read
through its AttachmentContent, one request a file, stored through the storage API), made "by
Rally", so nothing goes back.

The posts and files already on an artifact when it was linked are read at the first
catch-up after: by artifact, 100 a query, for one found in Rally (imported, linked to an
existing record); for one a send of ours made, by the same CreationDate query reaching back
to that send's first try (nothing on the object is older), which costs no request of its own
however many a bulk send made. Rally's edits and deletions of paired ones, by
`discussion_changes.py`.

Nothing comes twice: a Rally object paired already (`DiscussionPair`, ours sent there or
brought earlier) is an echo and is skipped; one an unfinished send of ours may have made (a
comment row in flight or whose answer was lost, with the same text on the same artifact; a
file with the same name and size) is left to that row's look-before-send. The rows are
looked at before the pairs, so a send finishing between the two reads is seen by one of them.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from aharally.discussion import services as discussion
from aharally.discussion.services import DiscussionError
from aharally.discussion.sizes import file_size
from aharally.integrations.log import log_event
from aharally.integrations.models import LogLevel
from aharally.rally.errors import RallyError, RallyQueryError
from aharally.sync import history, links, mapping
from aharally.sync.incoming.discussion_changes import recheck_discussion
from aharally.sync.models import (
    ActivityAction,
    DiscussionPair,
    ItemKind,
    ItemOrigin,
    Link,
    LinkState,
    OutboxItem,
    OutboxKind,
    OutboxState,
    PullCursor,
)
from aharally.sync.records import SOURCE, model_for

logger = logging.getLogger(__name__)

RALLY_TYPE = {ItemKind.COMMENT: "ConversationPost", ItemKind.ATTACHMENT: "Attachment"}
LINE = {ItemKind.COMMENT: "comments", ItemKind.ATTACHMENT: "attachments"}
# Objects applied a transaction at a time (a page is 2,000).
CHUNK = 200
# The last link whose artifact's posts and files were read (PullCursor.cursors).
LINKS_SEEN = "discussion_links_seen"
# How long the integration's project tree is kept (a project added under it is read within).
PROJECTS_KEPT_SECONDS = 600
# How far back the CreationDate queries reach for the objects our sends made since the last
# catch-up; one whose send first tried earlier still (Rally was away for hours) is read by
# artifact, so one old send never makes the query list a day of the project's posts.
SENT_REACH_BACK = timedelta(hours=1)


def pull_discussion(integration, config, client, counts: dict, *, since_of) -> None:
    """Bring Rally's new posts and files on this integration's linked artifacts, those
    already on artifacts linked since the last catch-up, and Rally's edits and deletions of
    paired ones (`discussion_changes.py`).

    `since_of(stored cursor)` is the catch-up's own reading of a cursor (overlap and all).
    """
    workspace = f"/workspace/{config.rally_workspace_oid}" if config.rally_workspace_oid else None
    kinds = [
        kind
        for kind in (ItemKind.COMMENT, ItemKind.ATTACHMENT)
        if any(mapping.discussion_comes_here(m, LINE[kind]) for m in config.record_mappings)
    ]
    if not kinds:
        return
    projects = integration_projects(config, client, workspace=workspace)
    # Read before the queries: a link made after them is new at the next catch-up.
    new_links = _links_since_last(integration)
    sent = _made_by_recent_sends(new_links)
    for kind in kinds:
        rally_type = RALLY_TYPE[kind]
        cursor_row = PullCursor.objects.get(integration=integration)
        since = since_of(cursor_row.cursors.get(rally_type))
        asked = min([since, *(at - links.SENT_CLOCK_SKEW for at in sent.values())])
        if kind == ItemKind.COMMENT:
            found = client.posts_since(asked, workspace=workspace, projects=projects)
        else:
            found = client.attachments_on(since=asked, workspace=workspace, projects=projects)
        if asked < since:
            found = _past_or_on(found, since, sent)
        try:
            _apply_all(integration, config, client, kind, found, counts)
        except RallyQueryError as error:
            # A Rally that can't be asked this (an older WSAPI): the records still come back.
            log_event(
                integration,
                LogLevel.WARNING,
                f"Rally can't list new {rally_type}s ({error.message}); "
                f"{LINE[kind]} don't come back from Rally.",
            )
    _newly_linked(integration, config, client, counts, kinds, new_links, sent, workspace=workspace)
    recheck_discussion(integration, config, client, counts, workspace=workspace)


def _links_since_last(integration) -> list[tuple[int, int, str, object]]:
    """The integration's links made since the last catch-up read what was on their objects:
    (pk, Rally ObjectID, Rally type, `created_by_send_at`), oldest first."""
    cursor_row = PullCursor.objects.get(integration=integration)
    after = int(cursor_row.cursors.get(LINKS_SEEN) or 0)
    return list(
        Link.objects.filter(integration=integration, pk__gt=after, state=LinkState.OK)
        .order_by("pk")
        .values_list("pk", "rally_oid", "rally_type", "created_by_send_at")
    )


def _made_by_recent_sends(new_links) -> dict:
    """Of the new links, those whose object a send of ours made within SENT_REACH_BACK:
    Rally ObjectID → when that send first tried."""
    recent = timezone.now() - SENT_REACH_BACK
    return {oid: at for _pk, oid, _type, at in new_links if at is not None and at >= recent}


def _past_or_on(found, since, sent: dict):
    """Of what a query reaching back before the cursor found, what is past the cursor, and
    what is on an object our sends made (older ones elsewhere were seen, and left, before)."""
    for obj in found:
        created = parse_datetime(str(obj.get("CreationDate") or ""))
        artifact = obj.ref_of("Artifact")
        if created is None or created > since or (artifact and artifact.object_id in sent):
            yield obj


def _apply_all(integration, config, client, kind, found, counts, *, move_cursor=True) -> None:
    chunk: list = []
    for obj in found:
        chunk.append(obj)
        if len(chunk) >= CHUNK:
            _apply(integration, config, client, kind, chunk, counts, move_cursor=move_cursor)
            chunk = []
    if chunk:
        _apply(integration, config, client, kind, chunk, counts, move_cursor=move_cursor)


def integration_projects(config, client, *, workspace) -> list[int] | None:
    """The ObjectIDs of the integration's project and, unless it excludes child updates, its
    children (a read of the workspace's projects, kept PROJECTS_KEPT_SECONDS in the shared
    cache); None for a whole-workspace integration."""
    if not config.rally_project_oid:
        return None
    if config.exclude_child_updates or workspace is None:
        return [config.rally_project_oid]
    key = f"sync:discussion-projects:{workspace}:{config.rally_project_oid}"
    kept = cache.get(key)
    if kept is None:
        kept = _project_and_children(client, workspace, config.rally_project_oid)
        cache.set(key, kept, PROJECTS_KEPT_SECONDS)
    return kept


def _project_and_children(client, workspace, project_oid: int) -> list[int]:
    children: dict[int | None, list[int]] = {}
    for root in client.projects(workspace, include_closed=True):
        stack = [root]
        while stack:
            project = stack.pop()
            children.setdefault(project.object_id, []).extend(c.object_id for c in project.children)
            stack.extend(project.children)
    found, stack = {project_oid}, [project_oid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return sorted(found)


def _newly_linked(
    integration, config, client, counts, kinds, new_links, sent: dict, *, workspace
) -> None:
    """Posts and files already on the objects of the new links that no CreationDate query
    reached (`sent` were): read by their artifacts, 100 a query, and brought as new ones are
    (what is paired or ours under way is skipped). Then the links are seen."""
    if not new_links:
        return
    artifacts = [
        f"/{rally_type.lower()}/{oid}" for _, oid, rally_type, _ in new_links if oid not in sent
    ]
    for kind in kinds if artifacts else ():
        if kind == ItemKind.COMMENT:
            found = client.posts(artifacts, workspace=workspace)
        else:
            found = client.attachments_on(artifacts, workspace=workspace)
        _apply_all(integration, config, client, kind, found, counts, move_cursor=False)
    with transaction.atomic():
        row = PullCursor.objects.select_for_update().get(integration=integration)
        row.cursors = {**row.cursors, LINKS_SEEN: max(pk for pk, *_ in new_links)}
        row.save(update_fields=["cursors"])


def _apply(
    integration, config, client, kind: str, objects: list, counts: dict, *, move_cursor=True
) -> None:
    by_artifact = {}
    for obj in objects:
        artifact = obj.ref_of("Artifact")
        if artifact is not None and artifact.object_id is not None:
            by_artifact.setdefault(artifact.object_id, []).append(obj)
    artifact_links = {
        link.rally_oid: link
        for link in Link.objects.filter(
            integration=integration, rally_oid__in=list(by_artifact), state=LinkState.OK
        )
    }
    mine = [
        obj
        for oid, found in by_artifact.items()
        if oid in artifact_links
        and mapping.discussion_comes_here(
            config.mapping_for(artifact_links[oid].record_type), LINE[kind]
        )
        for obj in found
    ]
    if mine:
        # First the sends under way, then the pairs (see the module's docstring).
        pending = _unfinished_sends(integration, kind)
        site = links.site_of(integration)
        paired = set(
            DiscussionPair.objects.filter(
                rally_site=site, rally_oid__in=[obj.object_id for obj in mine]
            ).values_list("rally_oid", flat=True)
        )
        new = [
            obj for obj in mine if obj.object_id not in paired and _key(kind, obj) not in pending
        ]
        records = _records(artifact_links, new)
        for obj in new:
            link = artifact_links[obj.ref_of("Artifact").object_id]
            record = records.get((link.record_type, link.record_id))
            if record is not None:
                _bring(integration, client, kind, obj, record, link, site, counts)
    if move_cursor:
        _move_cursor(integration, RALLY_TYPE[kind], objects)


def _key(kind: str, obj) -> tuple:
    artifact = obj.ref_of("Artifact").object_id
    if kind == ItemKind.COMMENT:
        return (artifact, mapping.normalise_html(obj.get("Text")))
    return (artifact, obj.get("Name"), obj.get("Size"))


def _unfinished_sends(integration, kind: str) -> set[tuple]:
    """What sends of ours may have made without being paired yet: a row in flight, or one
    whose answer was lost (it looks in Rally before sending again)."""
    keys = set()
    rows = OutboxItem.objects.filter(
        integration=integration,
        record_type=kind,
        # A removal converted from a create whose answer was lost looks for what it made.
        kind__in=[kind, OutboxKind.REMOVE],
        state__in=[
            OutboxState.IN_FLIGHT,
            OutboxState.QUEUED,
            OutboxState.FAILED,
        ],
        look_before_send=True,
    ).only("values", "sent_values")
    for row in rows:
        sent, artifact = row.sent_values or {}, row.values.get("artifact")
        if kind == ItemKind.COMMENT:
            keys.add((artifact, mapping.normalise_html(sent.get("text", ""))))
        else:
            keys.add((artifact, sent.get("name"), sent.get("size")))
    return keys


def _records(artifact_links: dict, objects: list) -> dict:
    wanted: dict[str, set[int]] = {}
    for obj in objects:
        link = artifact_links[obj.ref_of("Artifact").object_id]
        wanted.setdefault(link.record_type, set()).add(link.record_id)
    found = {}
    for record_type, ids in wanted.items():
        for record in model_for(record_type).objects.filter(pk__in=ids):
            found[(record_type, record.pk)] = record
    return found


def _author(obj) -> str:
    user = obj.get("User")
    if isinstance(user, dict):
        return user.get("_refObjectName") or user.get("EmailAddress") or "Rally"
    return "Rally"


def _bring(integration, client, kind, obj, record, link, site, counts) -> None:
    author = _author(obj)
    data = None
    if kind == ItemKind.ATTACHMENT:
        size = obj.get("Size") or 0
        if size > discussion.max_upload_bytes():
            _refuse_file(integration, record, link, obj, size)
            return
        try:
            data = client.attachment_bytes(obj)
        except RallyError as error:
            log_event(
                integration,
                LogLevel.WARNING,
                f"Could not read {obj.get('Name')} on {link.label} from Rally: {error.message}",
                "It is read again at the next catch-up.",
            )
            return
    try:
        # The item and its pair commit together: a pair refused (brought meanwhile by another
        # catch-up on this Rally) takes the item away with it.
        with transaction.atomic():
            if kind == ItemKind.COMMENT:
                item = discussion.create_comment(
                    record=record, body=obj.get("Text") or "", author_name=author, source=SOURCE
                )
                detail = f"Comment by {author} from Rally"
            else:
                upload = ContentFile(data, name=obj.get("Name") or "file")
                upload.content_type = obj.get("ContentType") or ""
                item = discussion.add_attachment(
                    record=record, upload=upload, uploaded_by_name=author, source=SOURCE
                )
                detail = f"Attachment {item.name} by {author} from Rally"
            DiscussionPair.objects.create(
                rally_site=site,
                kind=kind,
                item_id=item.pk,
                rally_oid=obj.object_id,
                artifact_oid=link.rally_oid,
                integration=integration,
                origin=ItemOrigin.RALLY,
                rally_text=mapping.normalise_html(obj.get("Text")) if kind == "comment" else "",
            )
            history.note(link, ActivityAction.RECEIVED, detail)
    except IntegrityError:
        return  # brought meanwhile by another catch-up on this Rally (a template group)
    except DiscussionError as refusal:  # an empty post, say
        log_event(
            integration,
            LogLevel.WARNING,
            f"A {kind} on {link.label} in Rally was not brought: {refusal}",
        )
        return
    key = "comments" if kind == ItemKind.COMMENT else "attachments"
    counts[key] = counts.get(key, 0) + 1


def _refuse_file(integration, record, link, obj, size: int) -> None:
    limit = discussion.max_upload_bytes()
    message = (
        f"{obj.get('Name')} on {link.label} in Rally was not brought to "
        f"{record.reference}: it is {size:,} bytes ({file_size(size)}), over this "
        f"server's limit of {limit:,} bytes ({file_size(limit)})."
    )
    log_event(integration, LogLevel.WARNING, message, "ATTACHMENT_MAX_BYTES sets the limit.")
    history.note(link, ActivityAction.FAILED, message)


def _move_cursor(integration, rally_type: str, objects: list) -> None:
    newest = max((str(obj.get("CreationDate") or "") for obj in objects), default="")
    if not newest:
        return
    with transaction.atomic():
        row = PullCursor.objects.select_for_update().get(integration=integration)
        if newest > str(row.cursors.get(rally_type) or ""):
            row.cursors = {**row.cursors, rally_type: newest}
            row.save(update_fields=["cursors"])
