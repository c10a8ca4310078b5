"""Rally's response envelopes and error texts."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse

from .render import API

NOT_FOUND = "Cannot find object to read"
INVALID_KEY = "Not authorized to perform action: Invalid key"
MAX_PAGESIZE = 2000
DEFAULT_PAGESIZE = 20


def json(payload: dict) -> JsonResponse:
    # Success and validation failures alike are HTTP 200, as on Rally.
    return JsonResponse(payload, json_dumps_params={"ensure_ascii": False})


def query_result(
    results: list, *, total: int, start: int, pagesize: int, errors=(), warnings=()
) -> dict:
    return {
        "QueryResult": {
            **API,
            "Errors": list(errors),
            "Warnings": list(warnings),
            "TotalResultCount": total,
            "StartIndex": start,
            "PageSize": pagesize,
            "Results": results,
        }
    }


def query_error(message: str, *, start: int = 1, pagesize: int = DEFAULT_PAGESIZE) -> dict:
    return query_result([], total=0, start=start, pagesize=pagesize, errors=[message])


def operation_result(errors=(), warnings=(), **extra) -> dict:
    return {"OperationResult": {**API, "Errors": list(errors), "Warnings": list(warnings), **extra}}


def create_result(obj: dict | None, errors=(), warnings=()) -> dict:
    body = {**API, "Errors": list(errors), "Warnings": list(warnings)}
    if obj is not None and not errors:
        body["Object"] = obj
    return {"CreateResult": body}


def single(element_name: str, obj: dict, warnings=()) -> dict:
    return {element_name: {**obj, "Errors": [], "Warnings": list(warnings)}}


UNAUTHORIZED_HTML = """<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"/>
<title>Error 401 Full authentication is required to access this resource</title>
</head>
<body><h2>HTTP ERROR 401</h2>
<p>Problem accessing {path}. Reason:
<pre>    Full authentication is required to access this resource</pre></p><hr><i><small>Powered by Jetty://</small></i><hr/>

</body>
</html>
"""


def unauthorized(path: str) -> HttpResponse:
    from django.utils.html import escape

    return HttpResponse(
        UNAUTHORIZED_HTML.format(path=escape(path)),
        status=401,
        content_type="text/html;charset=utf-8",
    )


def server_error(path: str) -> HttpResponse:
    """HTTP 500 with a Jetty page, for a request the sandbox failed on (a bug, never bad input)."""
    from django.utils.html import escape

    from rally_sandbox.faults.middleware import error_page

    return HttpResponse(
        error_page(500, escape(path)), status=500, content_type="text/html;charset=utf-8"
    )
