"""Rally's work items and their metadata, stored for fast queries.

Artifacts of every type share one table: typed columns for the fields clients filter and sort
on, a JSON column for custom (`c_…`) fields.
"""

from __future__ import annotations

from django.db import models

from rally_sandbox.accounts.models import Project, RallyObject, User, Workspace


class TypeDefinition(RallyObject):
    """A type as a workspace knows it; portfolio item types have an ordinal (0 = lowest)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="typedefs")
    element_name = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    display_name = models.CharField(max_length=100)
    type_path = models.CharField(max_length=100)
    id_prefix = models.CharField(max_length=10, blank=True)
    ordinal = models.IntegerField(default=-1)
    # The type it inherits from (Feature → Portfolio Item → Artifact), as Rally's Parent.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="subtypes"
    )

    class Meta:
        db_table = "sandbox_typedefinition"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "type_path"], name="sandbox_typedef_path")
        ]

    def __str__(self) -> str:
        return self.type_path


class State(RallyObject):
    """A portfolio item state of one portfolio item type (Discovering, Developing…)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="states")
    type_definition = models.ForeignKey(
        TypeDefinition, on_delete=models.CASCADE, related_name="states"
    )
    name = models.CharField(max_length=100)
    order_index = models.IntegerField()
    enabled = models.BooleanField(default=True)
    wip_limit = models.IntegerField(null=True, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        db_table = "sandbox_state"
        ordering = ["order_index", "object_id"]

    def __str__(self) -> str:
        return self.name


class Release(RallyObject):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="releases")
    name = models.CharField(max_length=255)
    start_date = models.DateTimeField()
    release_date = models.DateTimeField()
    state = models.CharField(max_length=40, default="Planning")
    notes = models.TextField(blank=True)
    theme = models.TextField(blank=True)
    version_label = models.CharField(max_length=100, blank=True)
    planned_velocity = models.FloatField(null=True, blank=True)

    class Meta:
        db_table = "sandbox_release"
        ordering = ["start_date", "object_id"]
        # The catch-up's `(LastUpdateDate > cursor)` ordered by LastUpdateDate.
        indexes = [models.Index(fields=["workspace", "last_update_date"])]

    def __str__(self) -> str:
        return self.name


class Iteration(RallyObject):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="iterations")
    name = models.CharField(max_length=255)
    start_date = models.DateTimeField()
    end_date = models.DateTimeField()
    state = models.CharField(max_length=40, default="Planning")
    notes = models.TextField(blank=True)
    theme = models.TextField(blank=True)
    planned_velocity = models.FloatField(null=True, blank=True)

    class Meta:
        db_table = "sandbox_iteration"
        ordering = ["start_date", "object_id"]

    def __str__(self) -> str:
        return self.name


class Milestone(RallyObject):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    target_project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="milestones"
    )
    name = models.CharField(max_length=255)
    target_date = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)
    display_color = models.CharField(max_length=20, blank=True)

    class Meta:
        db_table = "sandbox_milestone"
        ordering = ["target_date", "object_id"]

    def __str__(self) -> str:
        return self.name


class Tag(RallyObject):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=255)
    archived = models.BooleanField(default=False)

    class Meta:
        db_table = "sandbox_tag"
        ordering = ["name", "object_id"]

    def __str__(self) -> str:
        return self.name


class CustomField(RallyObject):
    """A workspace's custom attribute on one type: ElementName `c_<Name without spaces>`."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    type_path = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    element_name = models.CharField(max_length=100)
    attribute_type = models.CharField(max_length=20, default="STRING")
    allowed_values = models.JSONField(default=list, blank=True)
    required = models.BooleanField(default=False)

    class Meta:
        db_table = "sandbox_customfield"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "type_path", "element_name"], name="sandbox_customfield_name"
            )
        ]

    def __str__(self) -> str:
        return self.element_name


class RequiredField(models.Model):
    """A workspace rule making a built-in attribute of a type required on create."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    type_path = models.CharField(max_length=100)
    element_name = models.CharField(max_length=100)

    class Meta:
        db_table = "sandbox_requiredfield"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "type_path", "element_name"], name="sandbox_required_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.type_path}.{self.element_name}"


class Artifact(RallyObject):
    """A story, defect, task or portfolio item; `type_path` tells which."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="artifacts")
    type_path = models.CharField(max_length=100)
    formatted_number = models.PositiveIntegerField()
    formatted_prefix = models.CharField(max_length=10)
    name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    owner = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rank = models.FloatField(default=0)
    blocked = models.BooleanField(default=False)
    blocked_reason = models.CharField(max_length=256, blank=True, null=True)
    ready = models.BooleanField(default=False)
    expedite = models.BooleanField(default=False)
    display_color = models.CharField(max_length=20, blank=True)
    # Schedulable artifacts (stories, defects).
    schedule_state = models.CharField(max_length=40, blank=True)
    plan_estimate = models.FloatField(null=True, blank=True)
    release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="artifacts"
    )
    iteration = models.ForeignKey(
        Iteration, null=True, blank=True, on_delete=models.SET_NULL, related_name="artifacts"
    )
    in_progress_date = models.DateTimeField(null=True, blank=True)
    accepted_date = models.DateTimeField(null=True, blank=True)
    # Story → parent story; portfolio item → parent portfolio item.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    # Story → its lowest-level portfolio item (Feature).
    portfolio_item = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="user_stories"
    )
    # Task → the story or defect it belongs to.
    work_product = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    # Defect → the story it was found on.
    requirement = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="defects"
    )
    # Defect and task State are strings; a portfolio item's State is a State object.
    state = models.CharField(max_length=40, blank=True)
    pi_state = models.ForeignKey(
        State, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state_changed_date = models.DateTimeField(null=True, blank=True)
    priority = models.CharField(max_length=40, blank=True)
    severity = models.CharField(max_length=40, blank=True)
    environment = models.CharField(max_length=40, blank=True)
    resolution = models.CharField(max_length=40, blank=True)
    found_in_build = models.CharField(max_length=100, blank=True, null=True)
    fixed_in_build = models.CharField(max_length=100, blank=True, null=True)
    opened_date = models.DateTimeField(null=True, blank=True)
    closed_date = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    estimate = models.FloatField(null=True, blank=True)
    to_do = models.FloatField(null=True, blank=True)
    actuals = models.FloatField(null=True, blank=True)
    planned_start_date = models.DateTimeField(null=True, blank=True)
    planned_end_date = models.DateTimeField(null=True, blank=True)
    actual_start_date = models.DateTimeField(null=True, blank=True)
    actual_end_date = models.DateTimeField(null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="artifacts")
    milestones = models.ManyToManyField(Milestone, blank=True, related_name="artifacts")
    custom = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "sandbox_artifact"
        indexes = [
            models.Index(fields=["workspace", "type_path", "project"]),
            models.Index(fields=["workspace", "formatted_prefix", "formatted_number"]),
            models.Index(fields=["type_path", "last_update_date"]),
        ]

    def __str__(self) -> str:
        return f"{self.formatted_id}: {self.name}"

    @property
    def formatted_id(self) -> str:
        return f"{self.formatted_prefix}{self.formatted_number}"


class Revision(RallyObject):
    """One entry of an artifact's RevisionHistory: what changed, by whom, as Rally words it."""

    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="revisions")
    revision_number = models.PositiveIntegerField()
    description = models.TextField()
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "sandbox_revision"
        ordering = ["revision_number", "object_id"]

    def __str__(self) -> str:
        return f"{self.artifact_id} r{self.revision_number}"


class ConversationPost(RallyObject):
    """A post in an artifact's Discussion: HTML `Text` by a `User`, numbered per artifact."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="discussion")
    post_number = models.PositiveIntegerField(default=0)
    text = models.TextField()
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "sandbox_conversationpost"
        ordering = ["post_number", "object_id"]
        indexes = [models.Index(fields=["artifact", "post_number"])]

    def __str__(self) -> str:
        return f"{self.artifact_id} post {self.post_number}"


class AttachmentContent(RallyObject):
    """A file's bytes, which WSAPI reads and writes as base64 `Content`."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    content = models.TextField(blank=True)

    class Meta:
        db_table = "sandbox_attachmentcontent"

    def __str__(self) -> str:
        return f"AttachmentContent {self.object_id}"


class Attachment(RallyObject):
    """A file on an artifact: its name, type and size, and a reference to its content."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    artifact = models.ForeignKey(
        Artifact, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    content = models.ForeignKey(
        AttachmentContent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    content_type = models.CharField(max_length=256, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "sandbox_attachment"
        ordering = ["creation_date", "object_id"]

    def __str__(self) -> str:
        return self.name
