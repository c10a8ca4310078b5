"""Existing integrations' Estimate of a portfolio item goes to RefinedEstimate, a number, like
new integrations'. PreliminaryEstimate takes a reference to a size, never a number: every send
skipped it with a warning, so nothing that worked changes."""

from django.db import migrations


def to_refined_estimate(apps, schema_editor):
    FieldMapping = apps.get_model("integrations", "FieldMapping")
    FieldMapping.objects.filter(
        field="estimate",
        rally_field="PreliminaryEstimate",
        record_mapping__rally_type__startswith="PortfolioItem/",
    ).update(rally_field="RefinedEstimate")


def to_preliminary_estimate(apps, schema_editor):
    FieldMapping = apps.get_model("integrations", "FieldMapping")
    FieldMapping.objects.filter(
        field="estimate",
        rally_field="RefinedEstimate",
        record_mapping__rally_type__startswith="PortfolioItem/",
    ).update(rally_field="PreliminaryEstimate")


class Migration(migrations.Migration):
    dependencies = [("integrations", "0003_oauth_client_per_rally")]

    operations = [migrations.RunPython(to_refined_estimate, to_preliminary_estimate)]
