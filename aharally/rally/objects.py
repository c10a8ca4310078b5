"""Typed results of the Rally client: references, objects, query pages and batch results."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aharally.rally.errors import RallyError

# `<type path>/<ObjectID or UUID>` at the end of a ref, after the version segment.
_REF_TAIL = re.compile(
    r"/slm/webservice/v2\.(?:\d+|x)/(?P<path>(?P<type>[A-Za-z]+(?:/[A-Za-z]+)?)/(?P<id>-?\d+|"
    r"[0-9a-fA-F-]{32,36}))(?:\.js)?/?$"
)
_RELATIVE_REF = re.compile(
    r"^/?(?P<path>(?P<type>[A-Za-z]+(?:/[A-Za-z]+)?)/(?P<id>-?\d+|[0-9a-fA-F-]{32,36}))$"
)

# Rally's FormattedIDs: a prefix of ASCII letters and an ASCII number (F12, US345, DE7, I3).
# [0-9], not \d, which takes any script's digits (Arabic-Indic ones among them): Rally has none.
_FORMATTED_ID = re.compile(r"[A-Z]{1,8}[0-9]{1,12}")


def label(formatted_id: str | None, type_path: str, object_id: int | None) -> str:
    """An object's name in messages: its FormattedID, or for a type that has none (a release)
    its type and ObjectID ("Release 812345"), as Rally's own address shows it."""
    if formatted_id:
        return formatted_id
    return f"{type_path.rsplit('/', 1)[-1] or 'Object'} {object_id}"


def formatted_id(text: str | None) -> str | None:
    """`text` as a Rally FormattedID (trimmed, upper case), or None when it cannot be one."""
    candidate = (text or "").strip().upper()
    return candidate if _FORMATTED_ID.fullmatch(candidate) else None


@dataclass(frozen=True)
class RallyRef:
    """A reference to one Rally object: its ``_ref`` URL and what Rally said about it."""

    ref: str
    type: str = ""
    name: str | None = None
    uuid: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RallyRef:
        return cls(
            ref=data["_ref"],
            type=data.get("_type") or "",
            name=data.get("_refObjectName"),
            uuid=data.get("_refObjectUUID"),
        )

    @classmethod
    def parse(cls, value: str | RallyRef | Mapping[str, Any]) -> RallyRef:
        """A ref from an absolute URL, a relative ``type/oid`` path, or a ``{"_ref"}`` dict."""
        if isinstance(value, RallyRef):
            return value
        if isinstance(value, Mapping):
            return cls.from_json(value)
        if _REF_TAIL.search(value) or _RELATIVE_REF.match(value):
            return cls(ref=value)
        raise ValueError(f"Not a Rally reference: {value!r}")

    @property
    def path(self) -> str:
        """The relative form Rally accepts everywhere: ``/hierarchicalrequirement/123``."""
        match = _REF_TAIL.search(self.ref) or _RELATIVE_REF.match(self.ref)
        if not match:
            raise ValueError(f"Not a Rally reference: {self.ref!r}")
        return "/" + match.group("path").lower()

    @property
    def object_id(self) -> int | None:
        match = _REF_TAIL.search(self.ref) or _RELATIVE_REF.match(self.ref)
        if match and re.fullmatch(r"-?\d+", match.group("id")):
            return int(match.group("id"))
        return None

    def __str__(self) -> str:
        return self.ref


def is_ref(value: Any) -> bool:
    return isinstance(value, Mapping) and "_ref" in value


@dataclass(frozen=True)
class RallyObject:
    """One Rally object as returned by WSAPI; ``fields`` keeps every key Rally sent."""

    fields: Mapping[str, Any]
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_json(
        cls,
        data: Mapping[str, Any],
        *,
        warnings: tuple[str, ...] = (),
        type_hint: str | None = None,
    ) -> RallyObject:
        """``type_hint`` (a single-object read's root key) fills in a missing ``_type``."""
        fields = {k: v for k, v in data.items() if k not in ("Errors", "Warnings")}
        if type_hint and not fields.get("_type"):
            fields["_type"] = type_hint
        return cls(fields=fields, warnings=warnings)

    @property
    def ref(self) -> RallyRef:
        return RallyRef.from_json(self.fields)

    @property
    def type(self) -> str:
        return self.fields.get("_type") or ""

    @property
    def object_id(self) -> int | None:
        value = self.fields.get("ObjectID")
        return int(value) if value is not None else self.ref.object_id

    @property
    def uuid(self) -> str | None:
        return self.fields.get("ObjectUUID") or self.fields.get("_refObjectUUID")

    @property
    def formatted_id(self) -> str | None:
        return self.fields.get("FormattedID")

    @property
    def name(self) -> str | None:
        return self.fields.get("Name", self.fields.get("_refObjectName"))

    @property
    def label(self) -> str:
        """How messages name the object: its FormattedID, or for a type that has none (a
        release) its type and ObjectID, as the sync's links do."""
        return label(self.formatted_id, self.type, self.object_id)

    @property
    def version(self) -> str | None:
        value = self.fields.get("_objectVersion", self.fields.get("VersionId"))
        return None if value is None else str(value)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def __contains__(self, key: object) -> bool:
        return key in self.fields

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def ref_of(self, key: str) -> RallyRef | None:
        """The reference held in field ``key`` (``Project``, ``Parent``…), or None when empty."""
        value = self.fields.get(key)
        return RallyRef.from_json(value) if is_ref(value) else None


@dataclass(frozen=True)
class QueryPage:
    """One page of a ``QueryResult``; ``start`` is 1-based, ``page_size`` echoes the request."""

    results: list[RallyObject]
    total: int
    start: int
    page_size: int
    warnings: tuple[str, ...] = ()

    @property
    def next_start(self) -> int | None:
        """Where the next page starts, or None when this page reaches ``TotalResultCount``."""
        following = self.start + self.page_size
        return following if following <= self.total else None

    def __iter__(self) -> Iterator[RallyObject]:
        return iter(self.results)


@dataclass(frozen=True)
class BatchEntry:
    """One request inside a ``POST /batch``: a create, update or read relative to v2.0."""

    method: str
    path: str
    body: Mapping[str, Any] | None = None

    @classmethod
    def create(cls, type_path: str, fields: Mapping[str, Any]) -> BatchEntry:
        return cls("POST", f"/{type_path.lower()}/create", {type_path: dict(fields)})

    @classmethod
    def update(cls, ref: str | RallyRef, fields: Mapping[str, Any]) -> BatchEntry:
        path = RallyRef.parse(ref).path
        type_path = path.rsplit("/", 1)[0].lstrip("/")
        return cls("POST", path, {type_path: dict(fields)})

    @classmethod
    def read(cls, ref: str | RallyRef) -> BatchEntry:
        return cls("GET", RallyRef.parse(ref).path)

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"Path": self.path, "Method": self.method}
        if self.body is not None:
            entry["Body"] = self.body
        return {"Entry": entry}


@dataclass(frozen=True)
class BatchItemResult:
    """The outcome of one batch entry: an object, or the typed error Rally reported for it."""

    object: RallyObject | None
    error: RallyError | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.error is None
