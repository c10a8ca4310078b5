"""What a drain run asks Rally once and then reuses: attributes, states, users, tags.

One `Lookups` serves every row of a drain run (and its threads), so a bulk send of a thousand
features reads each type's attributes once, each person once, each tag once — the per-row
cost stays one request per created object.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from aharally.rally.client import RallyClient
from aharally.rally.metadata import AttributeDefinition
from aharally.rally.objects import RallyRef
from aharally.rally.query import any_of, where

_ATTRIBUTE_FETCH = ["Name", "ElementName", "AttributeType", "Required", "ReadOnly", "Custom"]


class Lookups:
    def __init__(self, client: RallyClient) -> None:
        self.client = client
        self._lock = threading.RLock()
        self._attributes: dict[str, dict[str, AttributeDefinition]] = {}
        self._states: dict[str, dict[str, RallyRef]] = {}
        self._users: dict[str, RallyRef | None] = {}
        self._tags: dict[str, RallyRef] = {}

    def attributes(self, type_path: str) -> dict[str, AttributeDefinition]:
        """The type's attributes by ElementName (two requests, once per run)."""
        with self._lock:
            if type_path not in self._attributes:
                found = self.client.attributes(type_path, with_allowed_values=False)
                self._attributes[type_path] = {a.element_name: a for a in found}
            return self._attributes[type_path]

    def state_ref(self, type_path: str, name: str) -> RallyRef | None:
        """A portfolio item State object by name (PI `State` fields take a reference)."""
        with self._lock:
            if type_path not in self._states:
                self._states[type_path] = {
                    state.name: state.ref for state in self.client.states(type_path)
                }
            return self._states[type_path].get(name)

    def user_ref(self, email: str) -> RallyRef | None:
        """The Rally user with this email address, or None when Rally has none."""
        key = email.strip().lower()
        with self._lock:
            if key not in self._users:
                found = self.client.query(
                    "User",
                    query=where("EmailAddress", "=", email.strip()),
                    fetch=["ObjectID", "EmailAddress", "UserName"],
                    limit=1,
                ).first()
                self._users[key] = found.ref if found is not None else None
            return self._users[key]

    def tag_refs(self, names: Iterable[str]) -> list[RallyRef]:
        """Tags by name, creating those Rally lacks (tags belong to the Rally workspace)."""
        names = [n for n in dict.fromkeys(names) if n]
        with self._lock:
            missing = [n for n in names if n not in self._tags]
            if missing:
                found = self.client.query(
                    "Tag",
                    query=any_of(*(where("Name", "=", n) for n in missing)),
                    fetch=["ObjectID", "Name"],
                )
                for tag in found:
                    self._tags.setdefault(tag.name or "", tag.ref)
                for name in missing:
                    if name not in self._tags:
                        created = self.client.create("Tag", {"Name": name}, fetch=["ObjectID"])
                        self._tags[name] = created.ref
            return [self._tags[n] for n in names]
