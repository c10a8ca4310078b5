"""The Rally WSAPI v2.0 client: every call aharally makes to Rally goes through here.

    client = RallyClient("https://rally1.rallydev.com", credential=ApiKey("_abc…"))
    for story in client.query("HierarchicalRequirement", query=where("Name", "contains", "x"),
                              fetch=["FormattedID", "Name"], workspace=ws_ref):
        ...

Speaks only HTTP and returns typed objects (``aharally.rally.objects``); failures are typed
errors (``aharally.rally.errors``). Reference for every call:
https://rally1.rallydev.com/slm/doc/webservice/ (WSAPI v2.0).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aharally.rally.auth import Credential
from aharally.rally.discussion import DiscussionMixin
from aharally.rally.errors import RallyError, RallyValidationError, error_from_messages
from aharally.rally.metadata import MetadataMixin
from aharally.rally.objects import (
    BatchEntry,
    BatchItemResult,
    QueryPage,
    RallyObject,
    RallyRef,
    is_ref,
)
from aharally.rally.paging import QueryResults, StreamedPage
from aharally.rally.pinning import Resolver
from aharally.rally.query import Query
from aharally.rally.stream import open_stream
from aharally.rally.transport import (
    DEFAULT_TIMEOUT,
    RALLY_CONCURRENCY_PER_USER,
    ClientCertificate,
    RetryPolicy,
    SharedCap,
    TemporaryClientCertificate,
    Transport,
)
from aharally.rally.webhooks import WebhooksMixin

MAX_PAGE_SIZE = 2000

Fetch = bool | Iterable[str] | None
RefLike = str | RallyRef | RallyObject


class RallyClient(MetadataMixin, WebhooksMixin, DiscussionMixin):
    """One connection to one Rally (a subscription) acting as one user."""

    def __init__(
        self,
        base_url: str,
        *,
        credential: Credential,
        workspace: RefLike | None = None,
        client_certificate: ClientCertificate | TemporaryClientCertificate | None = None,
        ca_bundle: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_concurrent: int = RALLY_CONCURRENCY_PER_USER,
        concurrency_key: str | None = None,
        shared_cap: SharedCap | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        resolve: Resolver | None = None,
    ) -> None:
        self.transport = Transport(
            base_url,
            credential,
            client_certificate=client_certificate,
            ca_bundle=ca_bundle,
            timeout=timeout,
            retry=retry,
            max_concurrent=max_concurrent,
            concurrency_key=concurrency_key,
            shared_cap=shared_cap,
            sleep=sleep,
            rng=rng,
            resolve=resolve,
        )
        self.workspace = _ref_path(workspace) if workspace is not None else None

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RallyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------

    def read(self, ref: RefLike, *, fetch: Fetch = True) -> RallyObject:
        """One object by ref (``/defect/123``, an absolute ``_ref``, or an object).

        Reference: GET /<type>/<ObjectID> — WSAPI "Read".
        """
        root, content = self.transport.send("GET", _ref_path(ref), params=_fetch_params(fetch))
        return RallyObject.from_json(content, warnings=_warnings(content), type_hint=root)

    def query(
        self,
        type_path: str,
        *,
        query: Query | None = None,
        fetch: Fetch = None,
        order: str | Sequence[str] | None = None,
        workspace: RefLike | None = None,
        project: RefLike | None = None,
        project_scope_up: bool | None = None,
        project_scope_down: bool | None = None,
        page_size: int = MAX_PAGE_SIZE,
        limit: int | None = None,
    ) -> QueryResults:
        """Objects of a type matching ``query``, fetched lazily a page at a time.

        ``project=None`` with a workspace searches the whole workspace.
        Reference: GET /<type>?query=&fetch=&order=&start=&pagesize= — WSAPI "Query".
        """
        params = self._query_params(
            query=query,
            fetch=fetch,
            order=order,
            workspace=workspace,
            project=project,
            project_scope_up=project_scope_up,
            project_scope_down=project_scope_down,
        )
        return self._paged(_type_segment(type_path), params, page_size=page_size, limit=limit)

    def collection(
        self,
        ref: RefLike,
        name: str,
        *,
        query: Query | None = None,
        fetch: Fetch = None,
        order: str | Sequence[str] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        limit: int | None = None,
    ) -> QueryResults:
        """Members of a collection (``Tags``, ``Children``, ``Projects``…), lazily paged.

        Reference: GET /<type>/<ObjectID>/<Collection> — WSAPI "Collections".
        """
        _check_name(name)
        params = self._query_params(query=query, fetch=fetch, order=order, workspace=None)
        return self._paged(f"{_ref_path(ref)}/{name}", params, page_size=page_size, limit=limit)

    def _paged(
        self, path: str, params: dict[str, str], *, page_size: int, limit: int | None
    ) -> QueryResults:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"Rally's page size is 1 to {MAX_PAGE_SIZE}, not {page_size}")

        def fetch_page(start: int) -> QueryPage:
            page_params = {**params, "start": str(start), "pagesize": str(page_size)}
            _, content = self.transport.send("GET", path, params=page_params)
            return QueryPage(
                results=[RallyObject.from_json(item) for item in content.get("Results", [])],
                total=int(content.get("TotalResultCount", 0)),
                start=int(content.get("StartIndex", start)),
                page_size=int(content.get("PageSize") or page_size),
                warnings=_warnings(content),
            )

        def open_page(start: int) -> StreamedPage:
            page_params = {**params, "start": str(start), "pagesize": str(page_size)}
            return StreamedPage(
                lambda: open_stream(self.transport, path, params=page_params),
                start=start,
                page_size=page_size,
                retry=lambda error, attempt: self.transport._maybe_wait(error, attempt, True),
            )

        return QueryResults(fetch_page, limit=limit, open_page=open_page)

    def _query_params(
        self,
        *,
        query: Query | None,
        fetch: Fetch,
        order: str | Sequence[str] | None,
        workspace: RefLike | None,
        project: RefLike | None = None,
        project_scope_up: bool | None = None,
        project_scope_down: bool | None = None,
    ) -> dict[str, str]:
        params = _fetch_params(fetch)
        if query is not None:
            if not isinstance(query, Query):
                # Strings would skip the builder's quoting; build queries with where().
                raise TypeError("query must be built with aharally.rally.query")
            params["query"] = query.render()
        if order:
            params["order"] = order if isinstance(order, str) else ",".join(order)
        scope = _ref_path(workspace) if workspace is not None else self.workspace
        if scope:
            params["workspace"] = scope
        if project is not None:
            params["project"] = _ref_path(project)
        elif scope:
            params["project"] = "null"  # the whole workspace, not the user's default project
        if project_scope_up is not None:
            params["projectScopeUp"] = _bool(project_scope_up)
        if project_scope_down is not None:
            params["projectScopeDown"] = _bool(project_scope_down)
        return params

    def subscription(self, *, fetch: Fetch = True) -> RallyObject:
        """The subscription of the credential's user. Reference: GET /subscription."""
        _, content = self.transport.send("GET", "subscription", params=_fetch_params(fetch))
        return RallyObject.from_json(content)

    def current_user(self, *, fetch: Fetch = True) -> RallyObject:
        """The credential's user. Reference: GET /user."""
        _, content = self.transport.send("GET", "user", params=_fetch_params(fetch))
        return RallyObject.from_json(content)

    # -- writing ---------------------------------------------------------------------------

    def create(
        self,
        type_path: str,
        fields: Mapping[str, Any],
        *,
        fetch: Fetch = None,
        workspace: RefLike | None = None,
        rank: tuple[str, RefLike] | None = None,
    ) -> RallyObject:
        """Create an object; never retried (see ``RallyOutcomeUnknown``).

        `rank`: ("rankAbove" or "rankBelow", another object), its place in Rally's rank.
        Reference: POST /<type>/create with {"<Type>": {...}} → CreateResult.
        """
        params = _fetch_params(fetch)
        scope = _ref_path(workspace) if workspace is not None else self.workspace
        if scope:
            params["workspace"] = scope
        params.update(_rank_params(rank))
        body = {_type_name(type_path): _encode_fields(fields)}
        _, content = self.transport.send(
            "POST", f"{_type_segment(type_path)}/create", params=params, body=body
        )
        return _result_object(content)

    def update(
        self,
        ref: RefLike,
        fields: Mapping[str, Any],
        *,
        fetch: Fetch = None,
        rank: tuple[str, RefLike] | None = None,
    ) -> RallyObject:
        """Change fields of an object; not retried. Unknown fields come back as warnings.

        `rank`: ("rankAbove" or "rankBelow", another object), the way Rally ranks (its
        DragAndDropRank is read-only).
        Reference: POST /<type>/<ObjectID> with {"<Type>": {...}} → OperationResult;
        ranking: POST /<type>/<ObjectID>?rankAbove=<ref> (WSAPI "Ranking").
        """
        path = _ref_path(ref)
        body = {_type_name(_type_of_path(path)): _encode_fields(fields)}
        params = {**_fetch_params(fetch), **_rank_params(rank)}
        _, content = self.transport.send("POST", path, params=params, body=body)
        return _result_object(content)

    def delete(self, ref: RefLike) -> None:
        """Delete an object (Rally moves artifacts to its recycle bin); retried like a read.

        A retry after a lost response may raise ``RallyNotFound``: the first try deleted it.
        Reference: DELETE /<type>/<ObjectID> → OperationResult.
        """
        self.transport.send("DELETE", _ref_path(ref))

    def add_to_collection(
        self,
        ref: RefLike,
        name: str,
        items: Iterable[RefLike | Mapping[str, Any]],
        *,
        fetch: Fetch = None,
    ) -> list[RallyObject]:
        """Add refs (or new objects given as field dicts) to a collection; not retried.

        Reference: POST /<type>/<ObjectID>/<Collection>/add {"CollectionItems": [...]}.
        """
        return self._change_collection(ref, name, "add", items, fetch)

    def remove_from_collection(
        self, ref: RefLike, name: str, items: Iterable[RefLike], *, fetch: Fetch = None
    ) -> list[RallyObject]:
        """Remove refs from a collection; not retried.

        Reference: POST /<type>/<ObjectID>/<Collection>/remove {"CollectionItems": [...]}.
        """
        return self._change_collection(ref, name, "remove", items, fetch)

    def _change_collection(
        self, ref: RefLike, name: str, action: str, items: Iterable[Any], fetch: Fetch
    ) -> list[RallyObject]:
        _check_name(name)
        encoded = [
            dict(item)
            if isinstance(item, Mapping) and not is_ref(item)
            else {"_ref": _ref_path(item)}
            for item in items
        ]
        if not encoded:
            raise ValueError(f"Nothing to {action}")
        path = f"{_ref_path(ref)}/{name}/{action}"
        _, content = self.transport.send(
            "POST", path, params=_fetch_params(fetch), body={"CollectionItems": encoded}
        )
        return [RallyObject.from_json(item) for item in content.get("Results", [])]

    def batch(self, entries: Sequence[BatchEntry], *, fetch: Fetch = None) -> list[BatchItemResult]:
        """Several creates/updates/reads in one request; per-entry errors are returned.

        The whole batch is one write: never retried; a lost response is ``RallyOutcomeUnknown``.
        Reference: POST /batch {"Batch": [{"Entry": {"Path", "Method", "Body"}}]} → BatchResult.
        """
        if not entries:
            raise ValueError("An empty batch")
        params = _fetch_params(fetch)
        if self.workspace:
            params["workspace"] = self.workspace
        _, content = self.transport.send(
            "POST", "batch", params=params, body={"Batch": [e.to_json() for e in entries]}
        )
        results = []
        for item in content.get("Results", []):
            errors = item.get("Errors") or []
            warnings = tuple(item.get("Warnings") or [])
            obj = item.get("Object")
            results.append(
                BatchItemResult(
                    object=RallyObject.from_json(obj, warnings=warnings) if obj else None,
                    error=error_from_messages(errors, warnings=warnings) if errors else None,
                    warnings=warnings,
                )
            )
        if len(results) != len(entries):
            raise RallyError(f"Rally answered {len(results)} results to a batch of {len(entries)}")
        return results


def _result_object(content: Mapping[str, Any]) -> RallyObject:
    obj = content.get("Object")
    if not isinstance(obj, Mapping):
        raise RallyValidationError("Rally's answer to the write holds no object")
    return RallyObject.from_json(obj, warnings=_warnings(content))


def _warnings(content: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(content.get("Warnings") or ())


def _fetch_params(fetch: Fetch) -> dict[str, str]:
    if fetch is None or fetch is False:
        return {}
    if fetch is True:
        return {"fetch": "true"}
    names = list(fetch)
    for name in names:
        _check_name(name)
    return {"fetch": ",".join(names)} if names else {}


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.replace("_", "").isalnum():
        raise ValueError(f"Not a Rally attribute name: {name!r}")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _type_segment(type_path: str) -> str:
    """``PortfolioItem/Feature`` → ``portfolioitem/feature`` (Rally's URL form)."""
    parts = type_path.strip("/").split("/")
    if not 1 <= len(parts) <= 2 or not all(p.isalnum() for p in parts):
        raise ValueError(f"Not a Rally type: {type_path!r}")
    return "/".join(parts).lower()


def _type_name(type_path: str) -> str:
    _type_segment(type_path)
    return type_path.strip("/")


def _type_of_path(path: str) -> str:
    return path.strip("/").rsplit("/", 1)[0]


def _ref_path(value: RefLike | Mapping[str, Any]) -> str:
    """The path Rally accepts for a ref, relative to v2.0 (``/defect/123``)."""
    if isinstance(value, RallyObject):
        return value.ref.path
    return RallyRef.parse(value).path


def _encode_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Refs and objects become ``{"_ref": …}``; everything else goes as given."""
    encoded: dict[str, Any] = {}
    for name, value in fields.items():
        _check_name(name)
        encoded[name] = _encode_value(value)
    return encoded


def _encode_value(value: Any) -> Any:
    if isinstance(value, RallyRef | RallyObject):
        return {"_ref": _ref_path(value)}
    if isinstance(value, list | tuple):
        return [_encode_value(v) for v in value]
    return value


def _rank_params(rank: tuple[str, RefLike] | None) -> dict[str, str]:
    if rank is None:
        return {}
    where, other = rank
    if where not in ("rankAbove", "rankBelow"):
        raise ValueError("rank is rankAbove or rankBelow another object")
    return {where: _ref_path(other)}
