"""One Rally object ↔ one aharally record: the one way a link is made, and who holds what.

The rule (docs/sync.md "Invariants") holds across every integration that talks to the same
Rally, template group or not: an OK link's Rally object is linked to no other record, and a
record is linked to no other Rally object there. Two unique constraints on `Link` (on
`rally_site` with the Rally ObjectID, and with the record) enforce it whatever races; every path
that links — a create's answer, an adoption, an import, Link to existing — goes through
`create_link`, which turns the constraint's refusal into `AlreadyLinked`. (A bulk send's
answered creates are linked many in one statement, `new_link`; refused, each goes through
`create_link` on its own.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from aharally.integrations.models import Integration
from aharally.rally.sites import rally_site
from aharally.records.rows import insert_one
from aharally.sync import records
from aharally.sync.mapping import detail_url
from aharally.sync.models import Link, LinkState
from aharally.sync.sqltext import constant

# How much earlier than a send's first try (aharally's clock) Rally may stamp the object it
# made (Rally's clock): a lost create looks for its object since then, and the catch-up reads
# what is on a sent object since then (`Link.created_by_send_at`).
SENT_CLOCK_SKEW = timedelta(minutes=2)


def site_of(integration: Integration) -> str:
    return integration.rally_site


class AlreadyLinked(Exception):
    """The Rally object, or the record, is linked already (maybe by another integration)."""

    def __init__(self, *, by_object: Link | None, by_record: Link | None) -> None:
        super().__init__("already linked")
        self.by_object = by_object
        self.by_record = by_record


def create_link(
    *,
    integration: Integration,
    record_type: str,
    record_id: int,
    rally_type: str,
    rally_oid: int,
    then: Callable[[Link], None] | None = None,
    replace_broken: bool = True,
    **fields,
) -> Link:
    """Make the link (Rally's detail URL derived, a broken one of the record replaced), or
    raise AlreadyLinked naming what holds the object or the record.

    `then(link)` runs in the link's transaction (a send finishes its row there), so both
    commit or neither does. `replace_broken=False` skips looking for a broken link to replace,
    for a caller that just saw there is none: should one be there after all, the link is
    made again the long way.
    """
    site = site_of(integration)
    try:
        with transaction.atomic():
            if replace_broken:
                # A broken link of the record (its object deleted in Rally, or moved out of
                # the project) gives way to the new one: a record has one link per integration.
                Link.objects.filter(
                    integration=integration,
                    record_type=record_type,
                    record_id=record_id,
                    state=LinkState.BROKEN,
                ).delete()
            link = insert_one(
                new_link(
                    integration=integration,
                    record_type=record_type,
                    record_id=record_id,
                    rally_type=rally_type,
                    rally_oid=rally_oid,
                    **fields,
                )
            )
            if then is not None:
                then(link)
            return link
    except IntegrityError:
        by_object = holder_of(site, rally_oid)
        by_record = link_of_record(site, record_type, record_id)
        if by_object is None and by_record is None:
            if not replace_broken:
                return create_link(
                    integration=integration,
                    record_type=record_type,
                    record_id=record_id,
                    rally_type=rally_type,
                    rally_oid=rally_oid,
                    then=then,
                    **fields,
                )
            raise  # neither: a constraint of another kind, not ours to explain
        raise AlreadyLinked(by_object=by_object, by_record=by_record) from None


def new_link(*, integration: Integration, rally_type: str, rally_oid: int, **fields) -> Link:
    """A link not saved yet, its Rally and Rally's detail URL filled in (`create_link`; many
    at once with `rows.insert_all`, which raises IntegrityError for any taken)."""
    return Link(
        integration=integration,
        rally_site=site_of(integration),
        rally_type=rally_type,
        rally_oid=rally_oid,
        url=detail_url(integration.source.rally_url, rally_type, rally_oid),
        **fields,
    )


def holder_of(site: str, rally_oid: int) -> Link | None:
    """The OK link of a Rally object in this Rally, whichever integration made it."""
    return (
        Link.objects.filter(rally_site=site, rally_oid=rally_oid, state=LinkState.OK)
        .select_related("integration")
        .first()
    )


def link_of_record(site: str, record_type: str, record_id: int) -> Link | None:
    """The record's OK link into this Rally, whichever integration made it."""
    return (
        Link.objects.filter(
            rally_site=site, record_type=record_type, record_id=record_id, state=LinkState.OK
        )
        .select_related("integration")
        .first()
    )


def linked_oids(integration: Integration, oids) -> set[int]:
    """Of these Rally objects, those no catch-up of this integration may import: linked by
    any integration in this Rally, or linked (even broken) by this one."""
    linked = Link.objects.filter(rally_oid__in=list(oids)).filter(
        Q(rally_site=site_of(integration), state=LinkState.OK) | Q(integration=integration)
    )
    # No ordering: a set (the links' ordering joins their integrations to sort them).
    return set(linked.order_by().values_list("rally_oid", flat=True))


def integrations_on_site(site: str) -> list[int]:
    """Every integration that talks to this Rally (templates' derived ones included).

    Their URLs alone: loading an integration decrypts its secrets, most of a catch-up's cost
    of each Rally object it considers importing."""
    return [
        pk
        for pk, own_url, template_url in Integration.objects.values_list(
            "pk", "rally_url", "template__rally_url"
        )
        if rally_site(own_url if template_url is None else template_url) == site
    ]


def version_of(obj) -> int | None:
    """Rally's version counter of an object as read (`_objectVersion`), if it gave one."""
    try:
        return int(obj.version)
    except (AttributeError, TypeError, ValueError):
        return None


def is_stale(link: Link, obj) -> bool:
    """Whether this read of the linked object is older than what the link's baseline
    reflects (a send wrote it, or a newer read was applied, since it was read)."""
    version = version_of(obj)
    return version is not None and link.rally_version is not None and version < link.rally_version


def newest_version(link: Link, *objects) -> int | None:
    """The newest version of the link's object known: the link's or one just read or written."""
    known = [v for v in (link.rally_version, *map(version_of, objects)) if v is not None]
    return max(known) if known else None


def checks_of_record(integration: Integration, record_type: str) -> dict:
    """Annotations: the record has an OK link into this Rally (any integration); this
    integration holds a broken one of it. Written as SQL: the ORM's Exists cost more CPU to
    compose than the query takes to run, on every object a send creates. The states are
    written in, not bound (`sqltext`). Composed once a shape (RawSQL is never changed)."""
    return _checks(connection.vendor, record_type, site_of(integration), integration.pk)


@functools.lru_cache(maxsize=256)
def _checks(vendor: str, record_type: str, site: str, integration_id: int) -> dict:
    quote = connection.ops.quote_name
    table = quote(Link._meta.db_table)
    owner = quote(records.model_for(record_type)._meta.db_table)
    of_record = (
        f"SELECT 1 FROM {table} l WHERE l.{quote('record_type')} = %s "  # noqa: S608
        f"AND l.{quote('record_id')} = {owner}.{quote('id')}"
    )
    return {
        # Identifiers from the models' metadata, values as parameters.
        "linked_on_site": RawSQL(  # noqa: S611
            f"EXISTS({of_record} AND l.{quote('rally_site')} = %s "
            f"AND l.{quote('state')} = {constant(LinkState.OK)})",
            [record_type, site],
            output_field=BooleanField(),
        ),
        "broken_here": RawSQL(  # noqa: S611
            f"EXISTS({of_record} AND l.{quote('integration_id')} = %s "
            f"AND l.{quote('state')} <> {constant(LinkState.OK)})",
            [record_type, integration_id],
            output_field=BooleanField(),
        ),
    }
