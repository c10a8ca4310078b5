"""What a drain run asks Rally once and then reuses: attributes, states, users, tags.

One `Lookups` serves every row of a drain run (and its threads), so a bulk send of a thousand
features reads each type's attributes once, each person once, each tag once — the per-row
cost stays one request per created object. Attributes, states and people are also kept across
drains (`integrations.rally_metadata`), so an isolated Send costs its create alone; when Rally
refuses a create built from what was kept, `refresh` forgets it and the row is built again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from aharally.integrations.rally_metadata import MetadataCache
from aharally.rally.client import RallyClient
from aharally.rally.metadata import AttributeDefinition, TypeDefinition
from aharally.rally.objects import RallyRef
from aharally.rally.query import any_of, where

_ATTRIBUTE_FETCH = ["Name", "ElementName", "AttributeType", "Required", "ReadOnly", "Custom"]


class Lookups:
    def __init__(self, client: RallyClient, *, kept: MetadataCache | None = None) -> None:
        self.client = client
        self._kept = kept
        # Guards the dicts below, never held over a request: a look-up that asks Rally holds
        # the lock of what it reads (`_reading`), so rows needing a type being read wait for
        # it while rows of other types, whose look-ups are done, go on sending.
        self._lock = threading.RLock()
        self._readers: dict[tuple[str, str], threading.Lock] = {}
        self._typedefs: dict[str, TypeDefinition] = {}
        self._attributes: dict[str, dict[str, AttributeDefinition]] = {}
        self._states: dict[str, dict[str, RallyRef]] = {}
        self._users: dict[str, RallyRef | None] = {}
        self._tags: dict[str, RallyRef] = {}
        self._from_kept = False  # something in use came from the cache across drains
        self._refreshes = 0
        self.asked_rally = False  # a look-up of this run made a request (it was answered)

    def _reading(self, kind: str, name: str) -> threading.Lock:
        """The lock one reader of (kind, name) holds while it asks Rally."""
        with self._lock:
            return self._readers.setdefault((kind, name), threading.Lock())

    def _typedef(self, type_path: str) -> TypeDefinition:
        with self._reading("typedef", type_path):
            if type_path not in self._typedefs:
                self._typedefs[type_path] = self.client.type_definition(type_path)
                self.asked_rally = True
            return self._typedefs[type_path]

    def _kept_value(self, kind: str, name: str):
        found = self._kept.get(kind, name) if self._kept is not None else None
        if found is not None:
            self._from_kept = True
        return found

    def _keep(self, kind: str, name: str, value) -> None:
        if self._kept is not None:
            self._kept.put(kind, name, value)

    def attributes(self, type_path: str) -> dict[str, AttributeDefinition]:
        """The type's attributes by ElementName (kept across drains; else two requests)."""
        found = self._attributes.get(type_path)
        if found is not None:
            return found
        with self._reading("attributes", type_path):
            if type_path not in self._attributes:
                found = self._kept_value("attributes", type_path)
                if found is None:
                    read = self.client.attributes(
                        type_path, with_allowed_values=False, typedef=self._typedef(type_path)
                    )
                    found = {a.element_name: a for a in read}
                    self._keep("attributes", type_path, found)
                self._attributes[type_path] = found
            return self._attributes[type_path]

    def needs_rally(self, type_path: str, *, states: bool) -> bool:
        """Whether the type's attributes (and states) would be read from Rally: neither read
        in this run nor kept across drains (what is kept is taken now, one cache read)."""
        if type_path not in self._attributes:
            found = self._kept_value("attributes", type_path)
            if found is None:
                return True
            with self._lock:
                self._attributes.setdefault(type_path, found)
        if states and type_path not in self._states:
            found = self._kept_value("states", type_path)
            if found is None:
                return True
            with self._lock:
                self._states.setdefault(type_path, found)
        return False

    def type_definition(self, type_path: str) -> TypeDefinition:
        """The type's definition (one request the first time in a run)."""
        return self._typedef(type_path)

    def warm(self, type_path: str, *, states: bool) -> None:
        """Read the type's attributes (and states) now, before its rows need them."""
        self.attributes(type_path)
        if states:
            self.state_ref(type_path, "")

    def with_values(self, type_path: str, attribute: AttributeDefinition) -> AttributeDefinition:
        """The attribute with its allowed values and their refs (a multi-value drop-down is
        written as refs): one request the first time, then kept with the type's attributes."""
        if attribute.value_refs:
            return attribute
        with self._reading("values", type_path):
            found = self.attributes(type_path)
            kept = found.get(attribute.element_name, attribute)
            if not kept.value_refs:
                kept = self.client.attribute_with_values(kept)
                self.asked_rally = True
                found = {**found, attribute.element_name: kept}
                self._attributes[type_path] = found
                self._keep("attributes", type_path, found)
            return kept

    def state_ref(self, type_path: str, name: str) -> RallyRef | None:
        """A portfolio item State object by name (PI `State` fields take a reference)."""
        found = self._states.get(type_path)
        if found is not None:
            return found.get(name)
        with self._reading("states", type_path):
            if type_path not in self._states:
                found = self._kept_value("states", type_path)
                if found is None:
                    read = self.client.states(type_path, typedef=self._typedef(type_path))
                    found = {state.name: state.ref for state in read}
                    self._keep("states", type_path, found)
                self._states[type_path] = found
            return self._states[type_path].get(name)

    def user_ref(self, email: str) -> RallyRef | None:
        """The Rally user with this email address, or None when Rally has none."""
        key = email.strip().lower()
        with self._reading("users", key):
            if key not in self._users:
                ref = self._kept_value("users", key)
                if ref is None:
                    found = self.client.query(
                        "User",
                        query=where("EmailAddress", "=", email.strip()),
                        fetch=["ObjectID", "EmailAddress", "UserName"],
                        limit=1,
                    ).first()
                    ref = found.ref if found is not None else None
                    self.asked_rally = True
                    if ref is not None:  # one Rally lacks is asked for again next drain
                        self._keep("users", key, ref)
                self._users[key] = ref
            return self._users[key]

    def stamp(self) -> int:
        """Taken before building a row's fields; `refresh` compares it."""
        with self._lock:
            return self._refreshes

    def refresh(self, stamp: int) -> bool:
        """Rally refused what a row built after `stamp`: True when building it again may help.

        That is when what it used came from the cache across drains (now forgotten here and
        for every drain, so it is read from Rally again), or another row refreshed meanwhile.
        False when it was all read from Rally in this drain already: the refusal stands.
        """
        with self._lock:
            if self._refreshes != stamp:
                return True
            if not self._from_kept:
                return False
            if self._kept is not None:
                self._kept.drop()
            self._typedefs.clear()
            self._attributes.clear()
            self._states.clear()
            self._users.clear()
            self._from_kept = False
            self._refreshes += 1
            return True

    def tag_refs(self, names: Iterable[str]) -> list[RallyRef]:
        """Tags by name, creating those Rally lacks (tags belong to the Rally workspace)."""
        names = [n for n in dict.fromkeys(names) if n]
        with self._reading("tags", ""):
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
