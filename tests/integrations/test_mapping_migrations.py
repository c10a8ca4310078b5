"""The data migrations that moved existing integrations' default mappings: run on rows as an
older version left them, forwards and back, with the migrations' own historical models."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import make_workspace
from tests.integrations.builders import configured_integration

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("integrations", "0003_oauth_client_per_rally")
ESTIMATE = ("integrations", "0004_estimate_to_refined_estimate")
RANK = ("integrations", "0005_rank_by_rank_above_below")


def _migrate(target: tuple[str, str]):
    """Migrate the integrations app to `target`; the historical models there."""
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    executor.loader.build_graph()
    return executor.loader.project_state([target]).apps


@pytest.fixture
def at_latest_after():
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def _old_mappings(apps, integration_id: int) -> dict[str, int]:
    """Mappings as the wizard made them before 0004: the rows each migration must move, and
    rows it must leave alone (a story's estimate, a field a person chose)."""
    RecordMapping = apps.get_model("integrations", "RecordMapping")
    FieldMapping = apps.get_model("integrations", "FieldMapping")
    initiative = RecordMapping.objects.create(
        integration_id=integration_id,
        record_type="initiative",
        rally_type="PortfolioItem/Initiative",
        rally_type_name="Initiative",
    )
    story = RecordMapping.objects.get(integration_id=integration_id, record_type="requirement")
    rows = {
        "portfolio estimate": FieldMapping.objects.create(
            record_mapping=initiative, field="estimate", rally_field="PreliminaryEstimate"
        ),
        "portfolio rank": FieldMapping.objects.create(
            record_mapping=initiative, field="rank", rally_field="DragAndDropRank", position=1
        ),
        "story estimate": FieldMapping.objects.create(
            record_mapping=story, field="estimate", rally_field="PlanEstimate", position=5
        ),
        "story rank": FieldMapping.objects.create(
            record_mapping=story, field="rank", rally_field="DragAndDropRank", position=6
        ),
        "chosen": FieldMapping.objects.create(
            record_mapping=initiative, field="notes", rally_field="PreliminaryEstimate", position=2
        ),
    }
    return {name: row.pk for name, row in rows.items()}


def _rally_fields(apps, rows: dict[str, int]) -> dict[str, str]:
    FieldMapping = apps.get_model("integrations", "FieldMapping")
    by_pk = dict(FieldMapping.objects.values_list("pk", "rally_field"))
    return {name: by_pk[pk] for name, pk in rows.items()}


def test_existing_mappings_move_to_refined_estimate_and_rank_and_back(cast, at_latest_after):
    integration = configured_integration(make_workspace("Old", "OLD", owner=cast.owner))
    old = _migrate(BEFORE)
    rows = _old_mappings(old, integration.pk)

    assert _rally_fields(_migrate(ESTIMATE), rows) == {
        "portfolio estimate": "RefinedEstimate",
        "portfolio rank": "DragAndDropRank",
        "story estimate": "PlanEstimate",
        "story rank": "DragAndDropRank",
        "chosen": "PreliminaryEstimate",
    }
    assert _rally_fields(_migrate(RANK), rows) == {
        "portfolio estimate": "RefinedEstimate",
        "portfolio rank": "Rank",
        "story estimate": "PlanEstimate",
        "story rank": "Rank",
        "chosen": "PreliminaryEstimate",
    }
    # Back to where an older version can read them again.
    assert _rally_fields(_migrate(BEFORE), rows) == {
        "portfolio estimate": "PreliminaryEstimate",
        "portfolio rank": "DragAndDropRank",
        "story estimate": "PlanEstimate",
        "story rank": "DragAndDropRank",
        "chosen": "PreliminaryEstimate",
    }
