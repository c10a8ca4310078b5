"""Existing integrations' Rank goes to Rally as rankAbove/rankBelow (the "Rank" mapping), like
new integrations'. DragAndDropRank is read-only in Rally: every send skipped it with a warning."""

from django.db import migrations


def to_rank(apps, schema_editor):
    FieldMapping = apps.get_model("integrations", "FieldMapping")
    FieldMapping.objects.filter(field="rank", rally_field="DragAndDropRank").update(
        rally_field="Rank"
    )


def to_drag_and_drop_rank(apps, schema_editor):
    FieldMapping = apps.get_model("integrations", "FieldMapping")
    FieldMapping.objects.filter(field="rank", rally_field="Rank").update(
        rally_field="DragAndDropRank"
    )


class Migration(migrations.Migration):
    dependencies = [("integrations", "0004_estimate_to_refined_estimate")]

    operations = [migrations.RunPython(to_rank, to_drag_and_drop_rank)]
