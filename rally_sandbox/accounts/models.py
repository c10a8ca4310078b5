"""Who may talk to the sandbox: the subscription, its workspaces and projects, users and keys."""

from __future__ import annotations

import hashlib
import uuid

from django.db import connection, models, transaction
from django.db.models import F


class Counter(models.Model):
    """Named monotonic counters: ObjectIDs for every object, FormattedID numbers per workspace."""

    name = models.CharField(max_length=100, primary_key=True)
    value = models.BigIntegerField(default=0)

    class Meta:
        db_table = "sandbox_counter"

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


# Rally's ObjectIDs are large, globally unique integers; start ours in the same range.
OBJECT_ID_START = 70_000_000_000


def allocate(name: str, count: int = 1, *, start: int = 0) -> range:
    """Reserve `count` consecutive values of the named counter and return them."""
    # One statement when the counter exists (every create allocates twice): the ORM's
    # UPDATE, SELECT and their savepoints were a third of a create's statements.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sandbox_counter SET value = value + %s WHERE name = %s RETURNING value",
            [count, name],
        )
        row = cursor.fetchone()
    if row is not None:
        return range(row[0] - count + 1, row[0] + 1)
    with transaction.atomic():
        updated = Counter.objects.filter(name=name).update(value=F("value") + count)
        if not updated:
            Counter.objects.get_or_create(name=name, defaults={"value": start})
            Counter.objects.filter(name=name).update(value=F("value") + count)
        value = Counter.objects.values_list("value", flat=True).get(name=name)
    return range(value - count + 1, value + 1)


def new_object_id() -> int:
    return allocate("oid", start=OBJECT_ID_START)[0]


def new_object_ids(count: int) -> range:
    return allocate("oid", count, start=OBJECT_ID_START)


class State(models.TextChoices):
    OPEN = "Open"
    CLOSED = "Closed"


class RallyObject(models.Model):
    """What every Rally object carries: ObjectID, ObjectUUID, CreationDate and a version."""

    object_id = models.BigIntegerField(primary_key=True, default=new_object_id)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    creation_date = models.DateTimeField(auto_now_add=True)
    last_update_date = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        abstract = True


class Subscription(RallyObject):
    name = models.CharField(max_length=255)
    subscription_id = models.PositiveIntegerField(unique=True)
    api_keys_enabled = models.BooleanField(default=True)
    webhooks_enabled = models.BooleanField(default=True)

    class Meta:
        db_table = "sandbox_subscription"

    def __str__(self) -> str:
        return self.name


class Workspace(RallyObject):
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="workspaces"
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    # Rally lets a workspace add one ScheduleState before Defined and one after Accepted.
    schedule_state_before = models.CharField(max_length=40, blank=True)
    schedule_state_after = models.CharField(max_length=40, blank=True)

    class Meta:
        db_table = "sandbox_workspace"
        ordering = ["name", "object_id"]

    def __str__(self) -> str:
        return self.name

    @property
    def schedule_states(self) -> list[str]:
        values = ["Defined", "In-Progress", "Completed", "Accepted"]
        if self.schedule_state_before:
            values.insert(0, self.schedule_state_before)
        if self.schedule_state_after:
            values.append(self.schedule_state_after)
        return values


class Project(RallyObject):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="projects")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    owner = models.ForeignKey(
        "User", null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_projects"
    )

    class Meta:
        db_table = "sandbox_project"
        ordering = ["name", "object_id"]

    def __str__(self) -> str:
        return self.name


class User(RallyObject):
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="users")
    username = models.CharField(max_length=255, unique=True)
    email = models.EmailField()
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    display_name = models.CharField(max_length=200, blank=True)
    password = models.CharField(max_length=255)
    disabled = models.BooleanField(default=False)
    subscription_admin = models.BooleanField(default=False)
    role = models.CharField(max_length=60, blank=True)
    # The UserProfile is a separate object in Rally with its own ObjectID.
    profile_object_id = models.BigIntegerField(unique=True, default=new_object_id)
    default_workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    default_project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "sandbox_user"
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username

    @property
    def ref_name(self) -> str:
        return self.display_name or self.username

    def set_password(self, raw_password: str) -> None:
        from django.contrib.auth.hashers import make_password

        self.password = make_password(raw_password)

    def check_password(self, raw_password: str) -> bool:
        from django.contrib.auth.hashers import check_password

        return check_password(raw_password, self.password)


def digest(secret: str) -> str:
    """Keys and tokens are stored as SHA-256 digests, never in clear."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    key_digest = models.CharField(max_length=64, unique=True)
    # The first characters, so a person can tell keys apart in a list.
    hint = models.CharField(max_length=8)
    read_only = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "sandbox_apikey"

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"


class SecurityToken(models.Model):
    """A `/security/authorize` token: lets a basic-auth caller write."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="security_tokens")
    token_digest = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()

    class Meta:
        db_table = "sandbox_securitytoken"

    def __str__(self) -> str:
        return f"token of {self.user_id} until {self.expires:%Y-%m-%d %H:%M}"


class ProjectRole(models.TextChoices):
    VIEWER = "Viewer"
    EDITOR = "Editor"
    ADMIN = "Admin"


class WorkspaceRole(models.TextChoices):
    USER = "User"
    ADMIN = "Admin"


class ProjectPermission(RallyObject):
    """Who may see (Viewer), change (Editor) or administer (Admin) a project. Rally keeps one
    per user and project; a subscription or workspace administrator needs none."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="project_permissions")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="permissions")
    role = models.CharField(max_length=10, choices=ProjectRole.choices)

    class Meta:
        db_table = "sandbox_projectpermission"
        ordering = ["object_id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="one_permission_a_project")
        ]

    def __str__(self) -> str:
        return f"{self.project_id} {self.role}"


class WorkspacePermission(RallyObject):
    """A user's access to a workspace: User, or Admin (who sees all of its projects)."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="workspace_permissions")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="permissions")
    role = models.CharField(max_length=10, choices=WorkspaceRole.choices)

    class Meta:
        db_table = "sandbox_workspacepermission"
        ordering = ["object_id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="one_permission_a_workspace")
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.role}"
