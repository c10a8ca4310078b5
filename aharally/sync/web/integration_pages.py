"""What the sync's pages on one integration share: finding it in the workspace, its URLs."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from django.urls import reverse

from aharally.integrations.models import Integration


def integration_of(request: HttpRequest, integration_id: int) -> Integration:
    """The integration of the request's workspace, or 404 (another workspace's is no one's)."""
    integration = (
        Integration.objects.select_related("template", "workspace")
        .filter(pk=integration_id, workspace=request.workspace)
        .first()
    )
    if integration is None:
        raise Http404("No such integration in this workspace.")
    return integration


def integration_url(name: str, integration: Integration, **kwargs) -> str:
    return reverse(
        name,
        kwargs={
            "prefix": integration.workspace.prefix,
            "integration_id": integration.pk,
            **kwargs,
        },
    )
