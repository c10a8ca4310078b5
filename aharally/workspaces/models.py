from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    CONTRIBUTOR = "contributor", "Contributor"
    REVIEWER = "reviewer", "Reviewer"
    VIEWER = "viewer", "Viewer"


class Capability(models.TextChoices):
    """What a role allows; views ask for a capability, never for a role."""

    VIEW = "view"
    EDIT_RECORDS = "edit_records"
    REVIEW = "review"
    CONFIGURE = "configure"


ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset(Capability.values),
    Role.CONTRIBUTOR: frozenset({Capability.VIEW, Capability.EDIT_RECORDS}),
    Role.REVIEWER: frozenset({Capability.VIEW, Capability.REVIEW}),
    Role.VIEWER: frozenset({Capability.VIEW}),
}


class RecordType(models.TextChoices):
    RELEASE = "release", "Release"
    INITIATIVE = "initiative", "Initiative"
    EPIC = "epic", "Epic"
    FEATURE = "feature", "Feature"
    REQUIREMENT = "requirement", "Requirement"


class StatusCategory(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    WONT_DO = "wont_do", "Will not do"


prefix_validator = RegexValidator(
    r"^[A-Z][A-Z0-9]{1,9}$",
    "Use 2 to 10 capital letters or digits, starting with a letter (for example PLAT).",
)


class Workspace(models.Model):
    name = models.CharField(max_length=120)
    prefix = models.CharField(
        "reference prefix",
        max_length=10,
        unique=True,
        validators=[prefix_validator],
        help_text="Starts every record reference in this workspace, as in PLAT-12.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Reference counters: incremented with a conditional UPDATE, never decremented,
    # so numbers are unique and never reused.
    next_feature_number = models.PositiveIntegerField(default=1)
    next_epic_number = models.PositiveIntegerField(default=1)
    next_initiative_number = models.PositiveIntegerField(default=1)
    next_release_number = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.workspace}"

    def can(self, capability: str) -> bool:
        return capability in ROLE_CAPABILITIES[self.role]


class Invitation(models.Model):
    """An email invited to a workspace; accepted when someone signs up or logs in with it."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=models.Q(accepted_at__isnull=True),
                name="one_open_invitation_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} invited to {self.workspace}"


class WorkflowStatus(models.Model):
    """One status of a workspace's workflow for one record type, in order."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="statuses")
    record_type = models.CharField(max_length=20, choices=RecordType.choices)
    name = models.CharField(max_length=60)
    category = models.CharField(max_length=20, choices=StatusCategory.choices)
    color = models.CharField(
        max_length=7,
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #4a90d9.")],
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["record_type", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "record_type", "name"], name="unique_status_name_per_workflow"
            )
        ]
        verbose_name_plural = "workflow statuses"

    def __str__(self) -> str:
        return self.name


class RequiredField(models.Model):
    """The custom layout: a field that forms for this record type must fill."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="required_fields"
    )
    record_type = models.CharField(max_length=20, choices=RecordType.choices)
    field_name = models.CharField(max_length=40)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "record_type", "field_name"], name="unique_required_field"
            )
        ]

    def __str__(self) -> str:
        return f"{self.record_type}.{self.field_name} required"


class CustomFieldKind(models.TextChoices):
    TEXT = "text", "Text"
    RICH_TEXT = "rich_text", "Rich text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    URL = "url", "URL"
    CHOICE = "choice", "Single choice"
    CHOICES = "choices", "Multiple choice"
    MEMBER = "member", "Workspace member"


CHOICE_KINDS = frozenset({CustomFieldKind.CHOICE, CustomFieldKind.CHOICES})


class CustomField(models.Model):
    """A field of the workspace's own on one record type (part of its custom layout).

    `key` never changes once made: record forms, history rows and integrations' field
    mappings name the field by it, and workspaces of one template group match their fields
    by it, so a rename keeps every value and mapping.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="custom_fields")
    record_type = models.CharField(max_length=20, choices=RecordType.choices)
    key = models.SlugField(max_length=40)
    name = models.CharField(max_length=60)
    kind = models.CharField(max_length=20, choices=CustomFieldKind.choices)
    help_text = models.CharField(max_length=200, blank=True)
    required = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    # Set on the copy a template group keeps in each workspace of the group: the template
    # workspace's field owns the definition (integrations.shared_fields keeps copies in step).
    shared_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="copies"
    )

    class Meta:
        ordering = ["record_type", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "record_type", "key"], name="unique_custom_field_key"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def form_name(self) -> str:
        """The name of its form field and of its history rows: cf_<key>."""
        return f"cf_{self.key}"


class CustomFieldChoice(models.Model):
    """One value of a single or multiple choice custom field; values point at it, so a
    rename keeps them."""

    field = models.ForeignKey(CustomField, on_delete=models.CASCADE, related_name="choices")
    name = models.CharField(max_length=60)
    position = models.PositiveIntegerField(default=0)
    shared_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="copies"
    )

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["field", "name"], name="unique_custom_choice_name")
        ]

    def __str__(self) -> str:
        return self.name


class AuditAction(models.TextChoices):
    CONFIGURATION = "configuration", "Configuration change"
    AUTHORIZATION = "authorization", "Authorization"
    TEMPLATE = "template", "Template edit"
    APPROVAL = "approval", "Approval"
    REJECTION = "rejection", "Rejection"
    MEMBERSHIP = "membership", "Membership change"


class AuditEntry(models.Model):
    """Who changed what in a workspace's configuration, and when (shown to its owners).

    Written through `workspaces.audit.record_audit`; never holds a secret.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    target = models.CharField(max_length=200, blank=True, help_text="What it was done to.")
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.target} by {self.actor_email or 'someone'}"
