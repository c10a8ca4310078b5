"""Many users at once, for tests and demos of a large subscription (the admin API).

A real subscription has thousands of users; creating them one by one through the sandbox's
pages would take minutes. They cannot sign in (no password) and hold no API key. Each may
carry the projects it may see (`"projects": {"Platform": "Editor"}`, by name or ObjectID) and
the workspaces it belongs to (`"workspaces": {"Engineering": "Admin"}`), as Rally's
ProjectPermission and WorkspacePermission objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import transaction

from . import generation
from .models import (
    Project,
    ProjectPermission,
    ProjectRole,
    Subscription,
    User,
    Workspace,
    WorkspacePermission,
    WorkspaceRole,
    new_object_ids,
)

MAX_USERS_A_REQUEST = 10_000


class PeopleError(ValueError):
    pass


def _text(person: Mapping, key: str, limit: int) -> str:
    value = person.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise PeopleError(f"{key} must be text of at most {limit} characters.")
    return value.strip()


@transaction.atomic
def add_users(people: Iterable[Mapping], *, subscription: Subscription | None = None) -> int:
    """Create the users not there yet (by email, as their user name); returns how many."""
    people = list(people)
    if len(people) > MAX_USERS_A_REQUEST:
        raise PeopleError(f"At most {MAX_USERS_A_REQUEST} users a request.")
    subscription = subscription or Subscription.objects.order_by("object_id").first()
    if subscription is None:
        raise PeopleError("The sandbox has no subscription yet.")
    wanted: dict[str, User] = {}
    grants: list[tuple[str, dict, dict]] = []
    found: dict = {}
    for person in people:
        if not isinstance(person, Mapping):
            raise PeopleError('Each user is an object: {"email": …, "first_name": …}.')
        email = _text(person, "email", 254)
        if "@" not in email:
            raise PeopleError(f"{email!r} is not an email address.")
        first, last = _text(person, "first_name", 100), _text(person, "last_name", 100)
        display = _text(person, "display_name", 200) or f"{first} {last}".strip()
        wanted[email.lower()] = User(
            subscription=subscription,
            username=email,
            email=email,
            first_name=first,
            last_name=last,
            display_name=display,
            password="!",  # no password: these users do not sign in
        )
        grants.append((email.lower(), *_grants(person, subscription, found)))
    existing = set(
        User.objects.filter(username__in=[u.username for u in wanted.values()]).values_list(
            "username", flat=True
        )
    )
    new = [user for user in wanted.values() if user.username not in existing]
    for user, object_id, profile_id in zip(
        new, new_object_ids(len(new)), new_object_ids(len(new)), strict=True
    ):
        user.object_id, user.profile_object_id = object_id, profile_id
    User.objects.bulk_create(new, batch_size=500)
    if new:
        generation.changed()  # bulk_create sends no post_save: a new generation by hand
    _grant(grants, subscription)
    return len(new)


def _roles(person: Mapping, key: str, choices) -> dict[str, str]:
    given = person.get(key, {})
    if not isinstance(given, Mapping) or not all(
        isinstance(k, str | int) and v in choices.values for k, v in given.items()
    ):
        raise PeopleError(
            f"{key} is an object of names or ObjectIDs to a role ({', '.join(choices.values)})."
        )
    return {str(k).strip(): v for k, v in given.items()}


def _grants(person: Mapping, subscription: Subscription, found: dict) -> tuple[dict, dict]:
    """A person's roles by project and by workspace, each found in the subscription (`found`
    remembers the names looked up, so 5,000 people on one project cost one query)."""
    roles_of = []
    for key, choices, model in [
        ("projects", ProjectRole, Project),
        ("workspaces", WorkspaceRole, Workspace),
    ]:
        roles = {}
        for name, role in _roles(person, key, choices).items():
            if (model, name) not in found:
                found[model, name] = _find(model, name, subscription)
            roles[found[model, name]] = role
        roles_of.append(roles)
    return roles_of[0], roles_of[1]


def _find(model, name: str, subscription: Subscription) -> int:
    in_subscription = "workspace__subscription" if model is Project else "subscription"
    matches = model.objects.filter(**{in_subscription: subscription})
    matches = matches.filter(object_id=int(name)) if name.isdigit() else matches.filter(name=name)
    pk = matches.order_by("object_id").values_list("pk", flat=True).first()
    if pk is None:
        raise PeopleError(f"The subscription has no {model.__name__.lower()} {name!r}.")
    return pk


def _grant(grants: list[tuple[str, dict, dict]], subscription: Subscription) -> None:
    """Each person's permissions, set to the roles given (others they hold are kept)."""
    if not any(projects or workspaces for _, projects, workspaces in grants):
        return
    users = dict(
        User.objects.filter(username__in=[name for name, _p, _w in grants]).values_list(
            "username", "pk"
        )
    )
    users = {name.lower(): pk for name, pk in users.items()}
    for model, target, index in [
        (ProjectPermission, "project_id", 1),
        (WorkspacePermission, "workspace_id", 2),
    ]:
        rows = [
            model(subscription=subscription, user_id=users[grant[0]], role=role, **{target: pk})
            for grant in grants
            for pk, role in grant[index].items()
        ]
        for row, object_id in zip(rows, new_object_ids(len(rows)), strict=True):
            row.object_id = object_id
        model.objects.bulk_create(
            rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["user", target.removesuffix("_id")],
            update_fields=["role"],
        )
