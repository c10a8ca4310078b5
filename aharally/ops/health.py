"""What /readyz checks: the database, a live task cluster, and each enabled integration.

The answer is unauthenticated, so it names integrations by id and a reason kind only: no
names, no messages from Rally, no record contents.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

CHECKS = ("database", "cluster", "integrations")

# Reason kinds an integration can fail readiness with, in plain words.
INTEGRATION_REASONS = {
    "needs_reauthorization": "Rally refused its credential (or it can no longer be "
    "decrypted): an owner must authorize it again",
    "failing": "its last call to Rally failed and none has succeeded since",
}


@dataclass
class Check:
    ok: bool
    reason: str = ""
    detail: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        answer: dict = {"ok": self.ok}
        if self.reason:
            answer["reason"] = self.reason
        answer.update(self.detail)
        return answer


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any driver error means "not reachable" here
        logger.warning("Readiness: the database is not reachable: %s", type(error).__name__)
        return Check(False, "the database is not reachable")
    return Check(True)


def check_cluster() -> Check:
    from aharally.ops.heartbeat import live_clusters, stalled_clusters

    live = live_clusters()
    count = live.count()
    if not count:
        return Check(
            False,
            f"no task cluster has reported in the last {settings.CLUSTER_HEARTBEAT_STALE_SECONDS}"
            " seconds: nothing sends to Rally or reads from it (start `manage.py qcluster`)",
            {"clusters": 0},
        )
    stalled = list(stalled_clusters(live).values_list("waiting", flat=True))
    if len(stalled) == count:
        return Check(
            False,
            f"tasks are waiting and no task cluster has taken one for more than "
            f"{settings.CLUSTER_STALL_SECONDS} seconds: nothing sends to Rally or reads from it"
            " (a stuck cluster restarts itself; if this lasts, read its log)",
            {"clusters": count, "stalled": len(stalled), "waiting": max(stalled)},
        )
    return Check(True, detail={"clusters": count})


def cluster_notice() -> str:
    """What an owner should know of the task cluster, in plain words; "" while it is well."""
    check = check_cluster()
    if check.ok:
        return ""
    if not check.detail.get("clusters"):
        return (
            "The task cluster is not running: nothing is sent to Rally or read from it until "
            "it is started again."
        )
    return (
        f"The task cluster has taken no task for more than {settings.CLUSTER_STALL_SECONDS} "
        "seconds while work waits: nothing is sent to Rally or read from it meanwhile. It "
        "restarts itself; if this notice stays, ask your administrator to read its log."
    )


def check_integrations() -> Check:
    from aharally.integrations.models import Integration, IntegrationState
    from aharally.integrations.report import DisplayState, with_display_state

    # values_list: no secret field is loaded (so none is decrypted) to answer a probe.
    states = (
        with_display_state(Integration.objects.filter(state=IntegrationState.ENABLED))
        .order_by("pk")
        .values_list("pk", "display_state")
    )
    failing = [
        {"id": pk, "reason": state, "message": INTEGRATION_REASONS[state]}
        for pk, state in states
        if state in (DisplayState.NEEDS_REAUTHORIZATION, DisplayState.FAILING)
    ]
    if failing:
        ids = ", ".join(str(item["id"]) for item in failing)
        return Check(False, f"integration {ids} cannot sync with Rally", {"failing": failing})
    return Check(True, detail={"enabled": len(states)})


RUNNERS = {
    "database": check_database,
    "cluster": check_cluster,
    "integrations": check_integrations,
}


def readiness(names: tuple[str, ...] = CHECKS) -> dict[str, Check]:
    """Run the named checks, the database's always; without it the others are not tried."""
    results = {"database": check_database()}
    for name in names:
        if name == "database":
            continue
        if not results["database"].ok:
            results[name] = Check(False, "not checked: the database is not reachable")
        else:
            results[name] = RUNNERS[name]()
    return results
