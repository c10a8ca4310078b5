"""Integration templates, and the configuration an integration works with.

An integration built from a template takes its account, credentials, record and field
mappings, relationship links, status mapping, enable modes and client certificate from the
template, *live*: nothing is copied, so editing the template changes every integration built
on it. Only the scope (Rally workspace and project, exclude child updates) is the
integration's own, falling back to the template's when it has none — that is how one template
serves a parent project and its child projects.

`effective_config()` is what the wizard's summaries, the settings pages and the sync read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from django.db import transaction
from django.db.models import Prefetch, QuerySet

from aharally.integrations.log import audit_integration, log_event
from aharally.integrations.models import (
    DISCUSSION_FIELDS,
    DISCUSSION_OFF,
    Direction,
    FieldMapping,
    Integration,
    IntegrationState,
    LogLevel,
    RecordMapping,
)
from aharally.integrations.shared_fields import share_custom_fields
from aharally.statusmap.matching import Plan, Status, normalise, problems
from aharally.statusmap.models import IncomingState, OutgoingState
from aharally.workspaces.models import AuditAction, Capability, Membership, Role, WorkflowStatus


class TemplateError(Exception):
    """A template operation that can't be done, explained for the owner."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class EffectiveStatusMap:
    """A status mapping in terms of *this* integration's workspace statuses.

    A template's status map names the template workspace's statuses; another workspace gets
    the statuses of the same name (and record type) in its own workflow.
    """

    rally_field: str
    rally_states: list[str]
    plan: Plan  # keys are this workspace's WorkflowStatus ids, as strings
    statuses: list[WorkflowStatus]
    problems: list[str]

    def status_for(self, rally_state: str) -> WorkflowStatus | None:
        return self._by_key.get(self.plan.incoming.get(rally_state))

    @cached_property
    def _by_key(self) -> dict[str, WorkflowStatus]:
        # A catch-up asks for every object's status: a look-up, not a scan of the statuses.
        by_key: dict[str, WorkflowStatus] = {}
        for status in self.statuses:
            by_key.setdefault(str(status.pk), status)  # the first, as a scan would find
        return by_key

    def state_for(self, status: WorkflowStatus) -> str | None:
        return self.plan.outgoing.get(str(status.pk))

    def groups(self) -> list[tuple[WorkflowStatus, list[str], str | None]]:
        """Each status with the Rally states it takes in and the one it sends."""
        return [
            (
                status,
                [s for s in self.rally_states if self.plan.incoming.get(s) == str(status.pk)],
                self.plan.outgoing.get(str(status.pk)),
            )
            for status in self.statuses
        ]


@dataclass(frozen=True)
class EffectiveRecordMapping:
    record_type: str
    record_type_label: str
    rally_type: str
    rally_type_name: str
    field_mappings: list[FieldMapping]
    status_map: EffectiveStatusMap | None
    mapping: RecordMapping  # the row it comes from (the template's, for a derived one)
    # The *Comments* and *Attachments* lines ("comments"/"attachments" → direction): kept
    # apart from `field_mappings`, which are the record's own fields. No line: both ways.
    discussion: dict[str, str] = field(default_factory=dict)

    @property
    def discussion_lines(self) -> list[tuple[str, str]]:
        """("Comments", "Both ways"), ("Attachments", …): the lines as people read them."""
        ways = {**dict(Direction.choices), Direction.BOTH: "Both ways", DISCUSSION_OFF: "Off"}
        return [
            (name.title(), ways.get(self.discussion.get(name, Direction.BOTH), "Both ways"))
            for name in DISCUSSION_FIELDS
        ]


@dataclass(frozen=True)
class EffectiveConfig:
    """What an integration works with; holds no secret (credentials stay on `source`)."""

    integration: Integration
    source: Integration
    rally_url: str
    auth_method: str
    authorized: bool
    authorized_at: object
    rally_user_name: str
    needs_reauthorization: bool
    rally_workspace_oid: int | None
    rally_workspace_name: str
    rally_project_oid: int | None
    rally_project_name: str
    exclude_child_updates: bool
    outgoing_mode: str
    incoming_mode: str
    has_client_certificate: bool
    client_certificate_expires_at: object
    record_mappings: list[EffectiveRecordMapping] = field(default_factory=list)
    relationship_links: list[tuple[str, str]] = field(default_factory=list)

    @property
    def from_template(self) -> bool:
        return self.source.pk != self.integration.pk

    def mapping_for(self, record_type: str) -> EffectiveRecordMapping | None:
        return next((m for m in self.record_mappings if m.record_type == record_type), None)


def _translate(
    *,
    status_map,
    statuses: list[WorkflowStatus],
    same_workspace: bool,
) -> EffectiveStatusMap:
    ids = {str(s.pk) for s in statuses}
    by_name = {normalise(s.name): str(s.pk) for s in statuses}
    missing: list[str] = []

    def local(status: WorkflowStatus) -> str | None:
        if same_workspace:
            return str(status.pk) if str(status.pk) in ids else None
        key = by_name.get(normalise(status.name))
        if key is None and status.name not in missing:
            missing.append(status.name)
        return key

    plan = Plan()
    for entry in status_map.incoming.all():
        key = local(entry.status)
        if key is not None:
            plan.incoming[entry.rally_state] = key
    for entry in status_map.outgoing.all():
        key = local(entry.status)
        if key is not None:
            plan.outgoing[key] = entry.rally_state
    rally_states = list(status_map.rally_states)
    found = [
        f"The template maps to the status “{name}”, which this workspace's workflow doesn't "
        "have: add it, or change the template's status mapping."
        for name in missing
    ]
    found += problems(plan, [Status(str(s.pk), s.name, s.category) for s in statuses], rally_states)
    return EffectiveStatusMap(
        rally_field=status_map.rally_field,
        rally_states=rally_states,
        plan=plan,
        statuses=statuses,
        problems=found,
    )


def effective_config(integration: Integration) -> EffectiveConfig:
    """The configuration `integration` works with, read live from its template if any.

    A fixed number of queries (about seven), whatever the number of mappings.
    """
    source = integration.source
    mappings = list(
        RecordMapping.objects.filter(integration=source)
        .select_related("status_map")
        .prefetch_related(
            # With each field's conflict policy (conflictpolicy: the same query, joined).
            Prefetch("field_mappings", FieldMapping.objects.select_related("conflict_policy_row")),
            Prefetch("status_map__incoming", IncomingState.objects.select_related("status")),
            Prefetch("status_map__outgoing", OutgoingState.objects.select_related("status")),
        )
    )
    statuses_by_type: dict[str, list[WorkflowStatus]] = {}
    for status in WorkflowStatus.objects.filter(workspace_id=integration.workspace_id):
        statuses_by_type.setdefault(status.record_type, []).append(status)
    same_workspace = source.workspace_id == integration.workspace_id

    record_mappings = []
    for mapping in mappings:
        status_map = getattr(mapping, "status_map", None)
        record_mappings.append(
            EffectiveRecordMapping(
                record_type=mapping.record_type,
                record_type_label=mapping.get_record_type_display(),
                rally_type=mapping.rally_type,
                rally_type_name=mapping.rally_type_name or mapping.rally_type,
                field_mappings=[
                    m for m in mapping.field_mappings.all() if m.field not in DISCUSSION_FIELDS
                ],
                discussion={
                    m.field: m.direction
                    for m in mapping.field_mappings.all()
                    if m.field in DISCUSSION_FIELDS
                },
                status_map=(
                    _translate(
                        status_map=status_map,
                        statuses=statuses_by_type.get(mapping.record_type, []),
                        same_workspace=same_workspace,
                    )
                    if status_map is not None
                    else None
                ),
                mapping=mapping,
            )
        )
    links = list(source.relationship_links.values_list("parent_type", "child_type"))

    # The scope is the integration's own, or the template's while it has none.
    scope = integration if integration.rally_project_oid else source
    return EffectiveConfig(
        integration=integration,
        source=source,
        rally_url=source.rally_url,
        auth_method=source.auth_method,
        authorized=bool(source.access_token or source.api_key),
        authorized_at=source.authorized_at,
        rally_user_name=source.rally_user_name,
        needs_reauthorization=source.needs_reauthorization,
        rally_workspace_oid=integration.rally_workspace_oid or source.rally_workspace_oid,
        rally_workspace_name=integration.rally_workspace_name or source.rally_workspace_name,
        rally_project_oid=scope.rally_project_oid,
        rally_project_name=scope.rally_project_name,
        exclude_child_updates=scope.exclude_child_updates,
        outgoing_mode=source.outgoing_mode,
        incoming_mode=source.incoming_mode,
        has_client_certificate=bool(source.client_certificate_pem),
        client_certificate_expires_at=source.client_certificate_expires_at,
        record_mappings=record_mappings,
        relationship_links=links,
    )


def is_configured(integration: Integration) -> bool:
    """Whether the wizard has been completed (the integration was enabled at least once)."""
    return integration.state != IntegrationState.DRAFT


def templates_available_to(user, *, exclude: Iterable[int] = ()) -> QuerySet[Integration]:
    """Templates a user may build on: those in workspaces the user owns.

    Building on a template acts in Rally with the template's credentials, so only someone
    who could configure the template's workspace may pick it.
    """
    owned = Membership.objects.filter(user=user, role=Role.OWNER).values("workspace_id")
    return (
        Integration.objects.filter(is_template=True, workspace_id__in=owned)
        .exclude(pk__in=list(exclude))
        .select_related("workspace")
        .order_by("workspace__name", "name")
    )


def can_use_template(user, template: Integration) -> bool:
    if not template.is_template:
        return False
    membership = Membership.objects.filter(user=user, workspace_id=template.workspace_id).first()
    return bool(membership and membership.can(Capability.CONFIGURE))


def attach_template(*, integration: Integration, template: Integration, by) -> Integration:
    """Build `integration` on `template`: it starts with the template's Rally scope."""
    if integration.pk == template.pk:
        raise TemplateError("An integration can't be its own template.")
    if integration.is_template:
        raise TemplateError("A template can't itself be built on another template.")
    if not can_use_template(by, template):
        raise TemplateError("Choose one of the integration templates you may use.")
    integration.template = template
    integration.rally_workspace_oid = template.rally_workspace_oid
    integration.rally_workspace_name = template.rally_workspace_name
    integration.rally_project_oid = template.rally_project_oid
    integration.rally_project_name = template.rally_project_name
    integration.exclude_child_updates = template.exclude_child_updates
    integration.save()
    # Its workspace gets the template's custom fields, which the template's mappings name.
    share_custom_fields(template)
    return integration


def use_as_template(*, integration: Integration, by=None) -> Integration:
    """Mark a configured integration as a template other integrations can be built on."""
    if integration.is_template:
        raise TemplateError("This integration is already a template.")
    if integration.template_id:
        raise TemplateError(
            "This integration is built on a template; only a standalone integration can "
            "become a template."
        )
    if not is_configured(integration):
        raise TemplateError(
            "Finish configuring this integration (all wizard steps) before using it as a template."
        )
    with transaction.atomic():
        updated = Integration.objects.filter(pk=integration.pk, is_template=False).update(
            is_template=True
        )
        if not updated:
            raise TemplateError("This integration is already a template.")
        integration.is_template = True
        who = f" by {by.email}" if by is not None and getattr(by, "email", "") else ""
        log_event(
            integration,
            LogLevel.INFO,
            f"Marked as an integration template{who}.",
            "Other workspaces can now pick it in the first step of the Rally wizard; changes "
            "to its mappings, status mapping, modes and certificate apply to all of them.",
        )
        audit_integration(
            integration,
            by=by,
            what="Marked as an integration template",
            action=AuditAction.TEMPLATE,
        )
    return integration


def stop_using_as_template(*, integration: Integration, by=None) -> Integration:
    """Turn a template back into an ordinary integration; refused while others use it."""
    if not integration.is_template:
        raise TemplateError("This integration is not a template.")
    with transaction.atomic():
        locked = Integration.objects.select_for_update().get(pk=integration.pk)
        users = list(locked.derived_integrations.values_list("name", flat=True)[:5])
        if users:
            raise TemplateError(
                "Integrations are built on this template ("
                + ", ".join(users)
                + "): remove them or build them differently first."
            )
        locked.is_template = False
        locked.save(update_fields=["is_template"])
        integration.is_template = False
        who = f" by {by.email}" if by is not None and getattr(by, "email", "") else ""
        log_event(integration, LogLevel.INFO, f"No longer an integration template{who}.")
        audit_integration(
            integration,
            by=by,
            what="No longer an integration template",
            action=AuditAction.TEMPLATE,
        )
    return integration


def derived_integrations(template: Integration) -> QuerySet[Integration]:
    return template.derived_integrations.select_related("workspace").order_by(
        "workspace__name", "name"
    )
