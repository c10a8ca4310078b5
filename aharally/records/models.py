from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models

from aharally.workspaces.models import (
    CustomField,
    CustomFieldChoice,
    RecordType,
    WorkflowStatus,
    Workspace,
)


class Tag(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=60)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="unique_tag_per_workspace")
        ]

    def __str__(self) -> str:
        return self.name


class Record(models.Model):
    """Fields every planning record has."""

    record_type: str = ""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    reference = models.CharField(max_length=40, editable=False)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, help_text="Rich text, sanitised on save.")
    status = models.ForeignKey(
        WorkflowStatus, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.reference} {self.name}"


class Release(Record):
    record_type = RecordType.RELEASE

    number = models.PositiveIntegerField(editable=False)
    start_date = models.DateField(null=True, blank=True)
    release_date = models.DateField(null=True, blank=True)
    is_parking_lot = models.BooleanField("parking lot", default=False)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["is_parking_lot", "release_date", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "number"], name="unique_release_number"),
            models.UniqueConstraint(
                fields=["workspace", "reference"], name="unique_release_reference"
            ),
        ]


class Initiative(Record):
    record_type = RecordType.INITIATIVE

    number = models.PositiveIntegerField(editable=False)
    start_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["workspace", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "number"], name="unique_initiative_number"
            ),
            models.UniqueConstraint(
                fields=["workspace", "reference"], name="unique_initiative_reference"
            ),
        ]


class Epic(Record):
    record_type = RecordType.EPIC

    number = models.PositiveIntegerField(editable=False)
    release = models.ForeignKey(
        Release, on_delete=models.SET_NULL, null=True, blank=True, related_name="epics"
    )
    initiative = models.ForeignKey(
        Initiative, on_delete=models.SET_NULL, null=True, blank=True, related_name="epics"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    start_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["workspace", "number"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "number"], name="unique_epic_number"),
            models.UniqueConstraint(
                fields=["workspace", "reference"], name="unique_epic_reference"
            ),
        ]


class Feature(Record):
    record_type = RecordType.FEATURE

    number = models.PositiveIntegerField(editable=False)
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="features")
    epic = models.ForeignKey(
        Epic, on_delete=models.SET_NULL, null=True, blank=True, related_name="features"
    )
    # May point to an initiative of another workspace (a company-level one, say).
    initiative = models.ForeignKey(
        Initiative, on_delete=models.SET_NULL, null=True, blank=True, related_name="features"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="features")
    start_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    estimate = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    # Position within the release's column; fractional so that a move writes one row.
    rank = models.FloatField(default=0, db_index=True)
    # Requirement numbers are per feature (PLAT-12-1, PLAT-12-2), never reused.
    next_requirement_number = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["rank", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "number"], name="unique_feature_number"),
            models.UniqueConstraint(
                fields=["workspace", "reference"], name="unique_feature_reference"
            ),
        ]


class Requirement(Record):
    record_type = RecordType.REQUIREMENT

    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="requirements")
    number = models.PositiveIntegerField(editable=False)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="requirements")
    start_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    estimate = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    rank = models.FloatField(default=0)

    class Meta:
        ordering = ["rank", "number"]
        constraints = [
            models.UniqueConstraint(fields=["feature", "number"], name="unique_requirement_number"),
            models.UniqueConstraint(
                fields=["workspace", "reference"], name="unique_requirement_reference"
            ),
        ]


class RecordChange(models.Model):
    """One field of one record changed: who, when, from what, to what."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    field = models.CharField(max_length=60)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Set when the change came from elsewhere than a person's edit (e.g. "Rally").
    source = models.CharField(max_length=40, blank=True)
    changed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "-changed_at"])]

    def __str__(self) -> str:
        return f"{self.field}: {self.old_value!r} -> {self.new_value!r}"


class CustomValue(models.Model):
    """A record's value of one custom field, in the column of its kind (typed value rows).

    A single value is one row; a multiple choice is one row per chosen value. Rows are
    found by (field, record id): the field names the record type. The board filters with
    a subquery on (field, choice) or (field, user), indexed, so filtering adds no query.
    """

    field = models.ForeignKey(CustomField, on_delete=models.CASCADE, related_name="+")
    record_id = models.PositiveBigIntegerField()
    text = models.TextField(blank=True)
    number = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    date = models.DateField(null=True, blank=True)
    # PROTECT: a used choice is deleted through the layout, which first moves or clears it.
    choice = models.ForeignKey(
        CustomFieldChoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["field", "record_id"], name="custom_value_record"),
            models.Index(fields=["field", "choice"], name="custom_value_choice"),
            models.Index(fields=["field", "user"], name="custom_value_user"),
        ]

    def __str__(self) -> str:
        return f"{self.field_id}/{self.record_id}"
