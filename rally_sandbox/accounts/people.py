"""Many users at once, for tests and demos of a large subscription (the admin API).

A real subscription has thousands of users; creating them one by one through the sandbox's
pages would take minutes. They cannot sign in (no password) and hold no API key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import transaction

from .models import Subscription, User, new_object_ids

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
    return len(new)
