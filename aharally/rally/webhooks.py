"""The webhook ("pigeon") calls of ``RallyClient``: list, create and delete webhooks.

Reference: https://rally1.rallydev.com/apps/pigeon/api/v2 (Rally's Webhooks API; only
subscription administrators may manage webhooks; ids are UUIDs).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aharally.rally.client import RallyClient

PIGEON_PATH = "/apps/pigeon/api/v2/webhook"
PIGEON_PAGE_SIZE = 200


class WebhooksMixin:
    def _pigeon_url(self: RallyClient, suffix: str = "") -> str:
        return self.transport.base_url + PIGEON_PATH + suffix

    def webhooks(self: RallyClient) -> Iterator[Mapping[str, Any]]:
        """Every webhook of the subscription, a page at a time.

        Reference: GET /webhook?pagesize=&start= → {Results, StartIndex, TotalResultCount}.
        """
        start = 1
        while True:
            url = self._pigeon_url(f"?pagesize={PIGEON_PAGE_SIZE}&start={start}")
            _, page = self.transport.send_json("GET", url)
            results = (page.get("Results") or []) if isinstance(page, Mapping) else []
            yield from (r for r in results if isinstance(r, Mapping))
            total = int(page.get("TotalResultCount") or 0) if isinstance(page, Mapping) else 0
            start += PIGEON_PAGE_SIZE
            if not results or start > total:
                return

    def create_webhook(
        self: RallyClient,
        *,
        name: str,
        target_url: str,
        object_types: Sequence[str],
        expressions: Sequence[Mapping[str, Any]],
        app_name: str = "aharally",
        app_url: str = "",
    ) -> Mapping[str, Any]:
        """Reference: POST /webhook {Name, TargetUrl, ObjectTypes, Expressions, AppName}."""
        body = {
            "Name": name,
            "AppName": app_name,
            "AppUrl": app_url,
            "TargetUrl": target_url,
            "ObjectTypes": list(object_types),
            "Expressions": [dict(e) for e in expressions],
        }
        _, created = self.transport.send_json("POST", self._pigeon_url(), body=body)
        return created

    def delete_webhook(self: RallyClient, webhook_uuid: str) -> None:
        """Reference: DELETE /webhook/{ObjectUUID}."""
        if not webhook_uuid.replace("-", "").isalnum():
            raise ValueError(f"Not a webhook id: {webhook_uuid!r}")
        self.transport.send_json("DELETE", self._pigeon_url(f"/{webhook_uuid}"))
