"""HTTP entry points of the WSAPI: authenticate, route `<type>[/<oid>[/<Collection>[/add]]]`."""

from __future__ import annotations

import logging

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from rally_sandbox.accounts import generation
from rally_sandbox.accounts.models import Workspace
from rally_sandbox.accounts.services import (
    AuthenticationFailed,
    Caller,
    authenticate,
    issue_security_token,
)
from rally_sandbox.env import env_bool

from . import envelopes, reads
from .reads import Call
from .registry import spec_for_name

logger = logging.getLogger(__name__)
# Tests set this to see how many SQL queries a request cost (to catch N+1 regressions).
COUNT_QUERIES = env_bool("RALLY_SANDBOX_QUERY_COUNT_HEADER", default=False)
WRITE_METHODS = {"POST", "PUT", "DELETE"}


def base_url(request: HttpRequest) -> str:
    """Scheme, host and port as the client used them: every `_ref` is built from it."""
    return f"{request.scheme}://{request.get_host()}"


def _authenticated(request: HttpRequest) -> Caller | HttpResponse:
    try:
        caller = authenticate(request)
    except AuthenticationFailed:
        return envelopes.unauthorized(request.path)
    if caller.read_only and request.method in WRITE_METHODS:
        return envelopes.unauthorized(request.path)
    return caller


@csrf_exempt
def dispatch(request: HttpRequest, version: str, rest: str) -> HttpResponse:
    if not COUNT_QUERIES:
        # One read of the cache generation for the whole request (accounts/generation.py).
        with generation.pinned():
            return _dispatch(request, rest)
    # Every statement of the request counts: authentication and the generation's read too.
    queries = _QueryCounter()
    with connection.execute_wrapper(queries), generation.pinned():
        response = _dispatch(request, rest)
    response["X-Sandbox-Query-Count"] = str(queries.count)
    return response


def _dispatch(request: HttpRequest, rest: str) -> HttpResponse:
    caller = _authenticated(request)
    if isinstance(caller, HttpResponse):
        return caller
    method = request.method or "GET"
    params = request.GET
    # The .NET toolkit sends long queries as a form POST with _method=GET.
    if method == "POST" and request.POST.get("_method", "").upper() == "GET":
        method, params = "GET", request.POST
    call = Call(
        method=method,
        segments=_segments(rest),
        params=params,
        body=request.body if method in {"POST", "PUT"} else b"",
        caller=caller,
        base_url=base_url(request),
    )
    try:
        payload = handle(call)
    except Exception:
        # A bug, not bad input (bad input gets Rally's own error in the envelope): answer as a
        # failing Rally server does, HTTP 500 with Jetty's page, so it is never mistaken for an
        # answer. The traceback goes to the log only.
        logger.exception("WSAPI request failed: %s %s", method, request.path)
        response = envelopes.server_error(request.path)
    else:
        response = envelopes.json(payload)
    return response


class _QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _segments(rest: str) -> list[str]:
    rest = rest.split("?", 1)[0].strip("/")
    if rest.lower().endswith(".js"):
        rest = rest[:-3]
    return [segment for segment in rest.split("/") if segment]


def _split_type(segments: list[str]):
    """Longest type name first: `portfolioitem/feature/123` is a Feature, not a PortfolioItem."""
    if len(segments) >= 2:
        spec = spec_for_name(f"{segments[0]}/{segments[1]}")
        if spec is not None:
            return spec, segments[2:]
    spec = spec_for_name(segments[0]) if segments else None
    return spec, segments[1:]


def handle(call: Call) -> dict:
    """Route one operation to its handler; shared by HTTP requests and /batch entries."""
    from . import writes

    segments = call.segments
    if not segments:
        return envelopes.operation_result(["Not able to parse artifact type: "])
    head = segments[0].lower()
    if head == "security" and len(segments) == 2 and segments[1].lower() == "authorize":
        token = issue_security_token(user=call.caller.user)
        return envelopes.operation_result(SecurityToken=token)
    if head == "batch" and len(segments) == 1:
        if call.method != "POST":
            return envelopes.operation_result(["Batch requests must use POST"])
        return writes.batch(call)
    if head == "attributedefinition" and len(segments) in {2, 3} and call.method == "GET":
        # Attribute definitions are derived from the type registry, not stored rows.
        if len(segments) == 2:
            return reads.read_attribute_definition(call, segments[1])
        if segments[2].lower() == "allowedvalues":
            return reads.allowed_values(call, segments[1])
    spec, rest = _split_type(segments)
    if spec is None:
        message = f"Not able to parse artifact type: {segments[0].lower()}"
        if call.method == "GET":
            return envelopes.query_error(message)
        return envelopes.operation_result([message])
    method = call.method
    if not rest:
        if method == "GET":
            # GET /user and /subscription name the caller's own; /users or a query list them.
            if head in {"user", "subscription"} and "query" not in call.params:
                return reads.current_singleton(call, spec)
            return reads.query(call, spec)
        return envelopes.operation_result([f"Cannot {method} to {spec.element_name}"])
    if rest[0].lower() == "create" and len(rest) == 1:
        if method not in {"POST", "PUT"}:
            return envelopes.operation_result([f"Cannot {method} a create request"])
        return writes.create(call, spec)
    ident = rest[0]
    if len(rest) == 1:
        if method == "GET":
            return reads.read(call, spec, ident)
        if method in {"POST", "PUT"}:
            return writes.update(call, spec, ident)
        if method == "DELETE":
            return writes.delete(call, spec, ident)
    if len(rest) == 2 and method == "GET":
        return reads.collection(call, spec, ident, rest[1])
    if len(rest) == 3 and method == "POST" and rest[2].lower() in {"add", "remove"}:
        return writes.change_collection(call, spec, ident, rest[1], rest[2].lower())
    return envelopes.operation_result([f"Not able to parse request path: {'/'.join(segments)}"])


@csrf_exempt
def schema(request: HttpRequest, version: str, oid: str) -> HttpResponse:
    caller = _authenticated(request)
    if isinstance(caller, HttpResponse):
        return caller
    workspace = Workspace.objects.filter(
        object_id=int(oid), subscription_id=caller.user.subscription_id
    ).first()
    if workspace is None:
        return envelopes.json(envelopes.query_error(envelopes.NOT_FOUND))
    call = Call("GET", [], request.GET, b"", caller, base_url(request))
    return envelopes.json(reads.schema(call, workspace))
