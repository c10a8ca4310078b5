"""Per-workspace metadata rows: type definitions, portfolio item states, custom fields.

Required-field rules are an administrator's setting (`required_fields.py`): the seed adds none,
as a default Rally workspace has none.
"""

from __future__ import annotations

from dataclasses import dataclass

from rally_sandbox.accounts.models import Workspace

from .models import CustomField, State, TypeDefinition
from .registry import display_name


@dataclass(frozen=True)
class TypeRow:
    element_name: str
    display_name: str
    type_path: str
    id_prefix: str = ""
    ordinal: int = -1
    abstract: bool = False
    parent: str | None = None


TYPE_ROWS = [
    TypeRow("Artifact", "Artifact", "Artifact", abstract=True),
    TypeRow(
        "SchedulableArtifact",
        "Schedulable Artifact",
        "SchedulableArtifact",
        abstract=True,
        parent="Artifact",
    ),
    TypeRow(
        "Requirement", "Requirement", "Requirement", abstract=True, parent="SchedulableArtifact"
    ),
    TypeRow(
        "HierarchicalRequirement",
        "User Story",
        "HierarchicalRequirement",
        "US",
        parent="Requirement",
    ),
    TypeRow("Defect", "Defect", "Defect", "DE", parent="SchedulableArtifact"),
    TypeRow("Task", "Task", "Task", "TA", parent="Artifact"),
    TypeRow("PortfolioItem", "Portfolio Item", "PortfolioItem", abstract=True, parent="Artifact"),
    TypeRow("Feature", "Feature", "PortfolioItem/Feature", "F", 0, parent="PortfolioItem"),
    TypeRow("Initiative", "Initiative", "PortfolioItem/Initiative", "I", 1, parent="PortfolioItem"),
    TypeRow("Theme", "Theme", "PortfolioItem/Theme", "T", 2, parent="PortfolioItem"),
    TypeRow("Release", "Release", "Release"),
    TypeRow("Iteration", "Iteration", "Iteration"),
    TypeRow("Milestone", "Milestone", "Milestone"),
    TypeRow("Tag", "Tag", "Tag"),
    TypeRow("State", "State", "State"),
    TypeRow("TypeDefinition", "Type Definition", "TypeDefinition"),
    TypeRow("AttributeDefinition", "Attribute Definition", "AttributeDefinition"),
    TypeRow("AllowedAttributeValue", "Allowed Attribute Value", "AllowedAttributeValue"),
    TypeRow("Workspace", "Workspace", "Workspace"),
    TypeRow("Project", "Project", "Project"),
    TypeRow("User", "User", "User"),
    TypeRow("UserProfile", "User Profile", "UserProfile"),
    TypeRow("Subscription", "Subscription", "Subscription"),
    TypeRow("RevisionHistory", "Revision History", "RevisionHistory"),
    TypeRow("Revision", "Revision", "Revision"),
    TypeRow("ConversationPost", "Conversation Post", "ConversationPost"),
    TypeRow("Attachment", "Attachment", "Attachment"),
    TypeRow("AttachmentContent", "Attachment Content", "AttachmentContent"),
]
TYPE_ROWS_BY_PATH = {row.type_path: row for row in TYPE_ROWS}

PORTFOLIO_STATES = {
    "PortfolioItem/Theme": ["Discovering", "Developing", "Done"],
    "PortfolioItem/Initiative": ["Discovering", "Developing", "Measuring", "Done"],
    "PortfolioItem/Feature": ["Discovering", "Developing", "Measuring", "Done"],
}

# (type path, display name, attribute type, allowed values, required)
DEMO_CUSTOM_FIELDS = [
    ("HierarchicalRequirement", "Aha Reference", "STRING", [], False),
    ("HierarchicalRequirement", "Risk Level", "STRING", ["Low", "Medium", "High"], False),
    ("PortfolioItem/Feature", "Aha Reference", "STRING", [], False),
    ("Defect", "Found In Customer", "BOOLEAN", [], False),
    # A feature's own risk drop-down and its customer, as product teams add them.
    ("PortfolioItem/Feature", "Risk Level", "STRING", ["Green", "Amber", "Red"], False),
    ("PortfolioItem/Feature", "Customer", "STRING", [], False),
    # A multi-value drop-down (Rally's "Drop-Down List (Multi-Value)"): where it ships.
    ("PortfolioItem/Feature", "Platforms", "COLLECTION", ["Web", "iOS", "Android"], False),
]


def rally_name(row: TypeRow) -> str:
    """Rally's TypeDefinition.Name: the element name in words (`Portfolio Item`)."""
    return display_name(row.element_name)


def custom_element_name(display_name: str) -> str:
    return "c_" + "".join(ch for ch in display_name if ch.isalnum() or ch == "_")


def ensure_workspace_metadata(*, workspace: Workspace, demo: bool = True) -> None:
    """Create the workspace's type definitions and states if missing (idempotent)."""
    typedefs = {}
    for row in TYPE_ROWS:
        typedef, _ = TypeDefinition.objects.update_or_create(
            workspace=workspace,
            type_path=row.type_path,
            defaults={
                "element_name": row.element_name,
                "name": rally_name(row),
                "display_name": row.display_name,
                "id_prefix": row.id_prefix,
                "ordinal": row.ordinal,
            },
        )
        typedefs[row.type_path] = typedef
    for row in TYPE_ROWS:
        parent = typedefs.get(row.parent) if row.parent else None
        if parent is not None and typedefs[row.type_path].parent_id != parent.pk:
            typedefs[row.type_path].parent = parent
            typedefs[row.type_path].save(update_fields=["parent"])
    for type_path, names in PORTFOLIO_STATES.items():
        for index, name in enumerate(names):
            State.objects.get_or_create(
                workspace=workspace,
                type_definition=typedefs[type_path],
                name=name,
                defaults={"order_index": index + 1},
            )
    if not demo:
        return
    for type_path, display, attribute_type, allowed, required in DEMO_CUSTOM_FIELDS:
        CustomField.objects.get_or_create(
            workspace=workspace,
            type_path=type_path,
            element_name=custom_element_name(display),
            defaults={
                "name": display,
                "attribute_type": attribute_type,
                "allowed_values": allowed,
                "required": required,
            },
        )
