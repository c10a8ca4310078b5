"""URLs of the Rally sandbox: WSAPI v2.0 (and v2.x), the schema endpoint, other apps' pages."""

from __future__ import annotations

import importlib.util

from django.urls import include, path, re_path

from rally_sandbox.wsapi import admin_views as wsapi_admin
from rally_sandbox.wsapi import views as wsapi

urlpatterns = [
    re_path(
        r"^slm/schema/(?P<version>v2\.0|v2\.x)/workspace/(?P<oid>-?\d+)(?:/[0-9a-fA-F]+)?/?$",
        wsapi.schema,
        name="wsapi-schema",
    ),
    re_path(
        r"^slm/webservice/(?P<version>v2\.0|v2\.x)/(?P<rest>.+)$", wsapi.dispatch, name="wsapi"
    ),
    path(
        "sandbox-admin/required-fields",
        wsapi_admin.required_fields,
        name="admin_required_fields",
    ),
    path(
        "sandbox-admin/custom-fields",
        wsapi_admin.custom_fields,
        name="admin_custom_fields",
    ),
    path("sandbox-admin/users", wsapi_admin.users, name="admin_users"),
]

# Other sandbox apps contribute their own URLs when they exist.
for _app, _prefix in [
    ("oauth", ""),
    ("pigeon", ""),
    ("faults", ""),
    ("ui", ""),
]:
    _module = f"rally_sandbox.{_app}.urls"
    if importlib.util.find_spec(_module) is not None:
        urlpatterns.append(path(_prefix, include(_module)))
