"""The wizard's questions to Rally, asked while the owner waits (DESIGN.md allows exactly these
look-ups in a web request). Each goes through `connection.rally_session` (short timeouts)
and raises `RallyProblem`, whose message is written for the owner.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from aharally.integrations import rally_metadata
from aharally.integrations.connection import rally_session
from aharally.integrations.defaults import RELEASE, STORY
from aharally.integrations.models import Integration, RecordMapping
from aharally.integrations.wizard import status_maps
from aharally.rally.auth import Credential
from aharally.rally.metadata import AttributeDefinition, Project, Workspace
from aharally.rally.query import any_of, where

USER_FETCH = ["UserName", "DisplayName", "EmailAddress"]
# Filled by the sync itself on every create, whatever the field mappings say.
ALWAYS_SET = {"Name", "Project", "Workspace", "Parent", "PortfolioItem", "Release"}


def _workspace_ref(integration: Integration) -> str:
    oid = integration.rally_workspace_oid or integration.source.rally_workspace_oid
    return f"/workspace/{oid}"


def rally_user_name(integration: Integration, *, credential: Credential) -> str:
    """Whom a new credential acts as in Rally (and proof that Rally accepts it)."""
    with rally_session(integration, doing="read your Rally user", credential=credential) as c:
        user = c.current_user(fetch=USER_FETCH)
    return user.get("DisplayName") or user.get("UserName") or user.get("EmailAddress") or "?"


def workspaces(integration: Integration) -> list[Workspace]:
    """The open workspaces the integration's Rally user can see, by name."""
    with rally_session(integration, doing="read your Rally workspaces") as client:
        return client.workspaces()


def project_tree(integration: Integration) -> list[tuple[int, Project]]:
    """(depth, project) for the open projects of the workspace, parents before children."""
    with rally_session(integration, doing="read the workspace's projects") as client:
        roots = client.projects(_workspace_ref(integration))
    return [pair for root in roots for pair in root.walk()]


def mappable_types(integration: Integration) -> dict[str, str]:
    """Rally types a record can map to (portfolio item types, user stories, releases), by
    TypePath, with the name Rally's UI shows.

    Asks for those types only: the others are of no use here (one request).
    """
    wanted = any_of(
        where("TypePath", "contains", "PortfolioItem/"),
        where("TypePath", "=", STORY),
        where("TypePath", "=", RELEASE),
    )
    available = {}
    with rally_session(integration, doing="read Rally's record types") as client:
        for item in client.query(
            "TypeDefinition",
            query=wanted,
            fetch=["TypePath", "Name", "DisplayName", "Abstract", "Creatable"],
            workspace=_workspace_ref(integration),
        ):
            type_path = item.get("TypePath") or ""
            if item.get("Abstract") or item.get("Creatable") is False:
                continue
            if type_path == STORY:
                available[type_path] = "User Story"
            elif type_path == RELEASE or type_path.lower().startswith("portfolioitem/"):
                available[type_path] = item.get("DisplayName") or item.get("Name") or type_path
    return available


@dataclass(frozen=True)
class RequiredGap:
    mapping: RecordMapping
    attribute: AttributeDefinition


def mapping_fields(
    integration: Integration,
) -> tuple[
    list[RequiredGap], dict[int, list[AttributeDefinition]], dict[int, list[AttributeDefinition]]
]:
    """Rally's required fields no field mapping fills, each mapping's custom fields as Rally
    reports them (drop-downs with their allowed values), and each mapping's fields a field
    mapping can name (standard and custom, writable or not, by name).

    Two requests a mapping (its type and attributes), plus one per custom drop-down.
    """
    gaps: list[RequiredGap] = []
    custom: dict[int, list[AttributeDefinition]] = {}
    every: dict[int, list[AttributeDefinition]] = {}
    mappings = integration.source.record_mappings.prefetch_related("field_mappings")
    with rally_session(integration, doing="read Rally's fields") as client:
        for mapping in mappings:
            mapped = {f.rally_field for f in mapping.field_mappings.all()}
            attributes = client.attributes(
                mapping.rally_type, workspace=_workspace_ref(integration), with_allowed_values=False
            )
            for attribute in attributes:
                if (
                    attribute.required
                    and not attribute.read_only
                    and attribute.element_name not in mapped | ALWAYS_SET
                ):
                    gaps.append(RequiredGap(mapping=mapping, attribute=attribute))
            custom[mapping.pk] = [
                replace(a, allowed_values=client.attribute_values(a))
                if a.constrained and a.allowed_values is None
                else a
                for a in attributes
                if a.custom and not a.hidden
            ]
            with_values = {a.element_name: a for a in custom[mapping.pk]}
            every[mapping.pk] = sorted(
                (with_values.get(a.element_name, a) for a in attributes if not a.hidden),
                key=lambda a: (not a.custom, a.name.lower()),
            )
    return gaps, custom, every


def type_attributes(integration: Integration, mapping: RecordMapping) -> list[AttributeDefinition]:
    """The attributes of one mapping's Rally type, custom drop-downs with their allowed values
    (two requests, plus one per custom drop-down)."""
    with rally_session(integration, doing="read Rally's fields") as client:
        attributes = client.attributes(
            mapping.rally_type, workspace=_workspace_ref(integration), with_allowed_values=False
        )
        return [
            replace(a, allowed_values=client.attribute_values(a))
            if a.custom and a.constrained and a.allowed_values is None
            else a
            for a in attributes
            if not a.hidden
        ]


def refresh_status_maps(integration: Integration) -> None:
    """Bring every status map of the integration up to Rally's current states (and forget
    the metadata sends keep across drains: the owner asked for Rally's as it is now)."""
    rally_metadata.drop(integration)
    with rally_session(integration, doing="read Rally's states") as client:
        for mapping in integration.source.record_mappings.all():
            field, states = status_maps.read_rally_states(
                client, rally_type=mapping.rally_type, workspace=_workspace_ref(integration)
            )
            status_maps.sync_status_map(
                record_mapping=mapping, rally_field=field, rally_states=states
            )
