"""Rally integrations: account, credentials, scope, mappings, modes, and their log.

An integration may take its configuration from a template (another integration marked
`is_template`): account, credentials, mappings, status mapping, modes and client
certificate are then read from the template *live* — see `Integration.source`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from aharally.integrations.secrets import EncryptedTextField
from aharally.rally.sites import rally_site
from aharally.workspaces.models import RecordType, Workspace

DEFAULT_RALLY_URL = "https://rally1.rallydev.com"
SECRET_FIELDS = (
    "access_token",
    "refresh_token",
    "api_key",
    "oauth_client_secret",
    "client_private_key_pem",
)


class IntegrationState(models.TextChoices):
    DRAFT = "draft", "Draft"
    ENABLED = "enabled", "Enabled"
    DISABLED = "disabled", "Disabled"


class OutgoingMode(models.TextChoices):
    AUTOMATIC = "automatic", "Automatically send outgoing changes"
    APPROVE = "approve", "Approve outgoing changes"


class IncomingMode(models.TextChoices):
    AUTOMATIC = "automatic", "Automatically import new records"
    APPROVE = "approve", "Approve new records"


class AuthMethod(models.TextChoices):
    OAUTH = "oauth", "OAuth 2.0"
    API_KEY = "api_key", "API key"


class WizardStep(models.TextChoices):
    NAME = "name", "Name"
    ACCOUNT = "account", "Configure account"
    AUTHORIZE = "authorize", "Authorize"
    WORKSPACE = "workspace", "Choose a workspace"
    PROJECT = "project", "Choose a project"
    MAPPINGS = "mappings", "Mappings"
    STATUSES = "statuses", "Status mapping"
    ENABLE = "enable", "Enable"


class Integration(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="integrations")
    name = models.CharField(max_length=120)
    template = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="derived_integrations",
        limit_choices_to={"is_template": True},
    )
    is_template = models.BooleanField(default=False)
    state = models.CharField(
        max_length=20, choices=IntegrationState.choices, default=IntegrationState.DRAFT
    )
    wizard_step = models.CharField(
        max_length=20, choices=WizardStep.choices, default=WizardStep.NAME
    )

    # Account and credentials (read from the template when there is one).
    rally_url = models.URLField("Rally URL", default=DEFAULT_RALLY_URL)
    auth_method = models.CharField(
        max_length=20, choices=AuthMethod.choices, default=AuthMethod.OAUTH
    )
    access_token = EncryptedTextField(blank=True)
    refresh_token = EncryptedTextField(blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    api_key = EncryptedTextField(blank=True)
    # An OAuth client the owner registered at this Rally (any Rally other than the one the
    # installation's client, RALLY_OAUTH_URL, belongs to); bound to rally_url, dropped with it.
    oauth_client_id = models.CharField("OAuth client ID", max_length=200, blank=True)
    oauth_client_secret = EncryptedTextField(blank=True)
    authorized_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    authorized_at = models.DateTimeField(null=True, blank=True)
    rally_user_name = models.CharField(max_length=200, blank=True)
    needs_reauthorization = models.BooleanField(default=False)
    client_certificate_pem = models.TextField(blank=True)
    client_private_key_pem = EncryptedTextField(blank=True)
    client_certificate_expires_at = models.DateTimeField(null=True, blank=True)

    # Scope in Rally (each integration chooses its own project, e.g. a child project).
    rally_workspace_oid = models.BigIntegerField(null=True, blank=True)
    rally_workspace_name = models.CharField(max_length=200, blank=True)
    rally_project_oid = models.BigIntegerField(null=True, blank=True)
    rally_project_name = models.CharField(max_length=200, blank=True)
    exclude_child_updates = models.BooleanField(default=False)

    outgoing_mode = models.CharField(
        max_length=20, choices=OutgoingMode.choices, default=OutgoingMode.AUTOMATIC
    )
    incoming_mode = models.CharField(
        max_length=20, choices=IncomingMode.choices, default=IncomingMode.AUTOMATIC
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    enabled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Set by the sync when the integration first sends or links a record; from then on the
    # Rally URL is locked (links point into that Rally).
    first_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["workspace", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.workspace})"

    @property
    def account_locked(self) -> bool:
        """Whether the Rally URL can no longer change: records were sent or linked."""
        return self.source.first_sent_at is not None or self.first_sent_at is not None

    @property
    def own_secrets_unreadable(self) -> bool:
        """Whether a secret stored on this row (not its template's) cannot be decrypted."""
        return any(getattr(self.__dict__.get(name), "unreadable", False) for name in SECRET_FIELDS)

    @property
    def secrets_unreadable(self) -> bool:
        """Whether a stored secret of the source cannot be decrypted (the keys changed)."""
        source = self.source
        return any(getattr(getattr(source, name), "unreadable", False) for name in SECRET_FIELDS)

    @property
    def rally_site(self) -> str:
        """Which Rally this integration talks to (its template's URL, normalised)."""
        return rally_site(self.source.rally_url)

    @property
    def over_plain_http(self) -> bool:
        """Whether calls to Rally go over http://, where no client certificate can be presented."""
        return self.source.rally_url.lower().startswith("http://")

    @property
    def source(self) -> Integration:
        """Where shared configuration lives: the template, or this integration itself."""
        return self.template if self.template_id else self


class RecordMapping(models.Model):
    """An aharally record type mapped to a Rally type (e.g. feature ↔ PortfolioItem/Feature)."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="record_mappings"
    )
    record_type = models.CharField(max_length=20, choices=RecordType.choices)
    rally_type = models.CharField(
        max_length=100, help_text="Rally's TypePath, e.g. PortfolioItem/Feature"
    )
    rally_type_name = models.CharField(max_length=100, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["integration", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "record_type"], name="one_mapping_per_record_type"
            ),
            models.UniqueConstraint(
                fields=["integration", "rally_type"], name="one_mapping_per_rally_type"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_record_type_display()} ↔ {self.rally_type}"


class Direction(models.TextChoices):
    TO_RALLY = "to_rally", "To Rally"
    TO_AHARALLY = "to_aharally", "To aharally"
    BOTH = "both", "Two-way"
    ONCE = "once", "Set once (at creation)"


# Field mappings with these fields are not fields: they are the *Comments* and *Attachments*
# lines, whose direction says where a record's comments and files go (no line: both ways;
# "off": neither way). The sync reads them from `EffectiveRecordMapping.discussion`.
DISCUSSION_FIELDS = ("comments", "attachments")
DISCUSSION_OFF = "off"


class FieldMapping(models.Model):
    record_mapping = models.ForeignKey(
        RecordMapping, on_delete=models.CASCADE, related_name="field_mappings"
    )
    # A built-in field's name ("estimate"), or a custom field's form name, `cf_<key>`: the
    # key never changes and is shared by a template group's copies, so the mapping means the
    # same field in every workspace of the group (and a rename changes nothing here).
    field = models.CharField(max_length=40, help_text="aharally's field name")
    rally_field = models.CharField(max_length=100)
    direction = models.CharField(max_length=20, choices=Direction.choices, default=Direction.BOTH)
    position = models.PositiveIntegerField(default=0)
    # A choice field's value map: {choice id (of the mapping's own workspace's field): Rally's
    # allowed value}. Keyed by id so a renamed choice keeps its value; a template group's
    # copies find theirs through `CustomFieldChoice.shared_from`. A choice missing here has
    # no Rally value: it is neither sent nor applied (`sync.custom_values`).
    value_map = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["record_mapping", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["record_mapping", "field"], name="one_field_mapping_per_field"
            )
        ]

    def __str__(self) -> str:
        return f"{self.field} → {self.rally_field} ({self.direction})"


class RelationshipLink(models.Model):
    """A parent → child relationship kept in step (e.g. Feature → Requirement)."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="relationship_links"
    )
    parent_type = models.CharField(max_length=20, choices=RecordType.choices)
    child_type = models.CharField(max_length=20, choices=RecordType.choices)

    class Meta:
        ordering = ["integration", "parent_type", "child_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "parent_type", "child_type"], name="unique_relationship"
            )
        ]

    def __str__(self) -> str:
        return f"{self.parent_type} → {self.child_type}"


class LogLevel(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class IntegrationLogEntry(models.Model):
    """What happened, and what to do about it; never holds a secret."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="log")
    level = models.CharField(max_length=10, choices=LogLevel.choices, default=LogLevel.INFO)
    message = models.TextField()
    hint = models.TextField(blank=True, help_text="What to do about it.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "integration log entries"

    def __str__(self) -> str:
        return f"[{self.level}] {self.message}"
