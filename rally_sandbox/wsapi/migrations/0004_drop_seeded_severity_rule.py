"""The seed used to make Defect.Severity required in every workspace; Rally's default has no
such rule, and rules are now an administrator's setting, so the seeded one goes."""

from django.db import migrations


def drop_seeded_rule(apps, schema_editor):
    RequiredField = apps.get_model("sandbox_wsapi", "RequiredField")
    RequiredField.objects.filter(type_path="Defect", element_name="Severity").delete()


class Migration(migrations.Migration):
    dependencies = [("sandbox_wsapi", "0003_revision")]

    operations = [migrations.RunPython(drop_seeded_rule, migrations.RunPython.noop)]
