"""Which record a comment or attachment URL names: a record type and a reference inside the
workspace the URL names (so another workspace's record is a 404 whatever its reference)."""

from __future__ import annotations

from django.http import Http404

from aharally.records.models import Epic, Feature, Initiative, Release, Requirement
from aharally.workspaces.models import RecordType

MODELS = {
    RecordType.RELEASE: Release,
    RecordType.INITIATIVE: Initiative,
    RecordType.EPIC: Epic,
    RecordType.FEATURE: Feature,
    RecordType.REQUIREMENT: Requirement,
}


def get_record(workspace, record_type: str, reference: str):
    model = MODELS.get(record_type)
    if model is None:
        raise Http404("No such record type.")
    try:
        return model.objects.select_related("workspace").get(
            workspace=workspace, reference=reference.upper()
        )
    except model.DoesNotExist:
        raise Http404("No such record.") from None
