"""Links learn which Rally they point into, and one Rally object ↔ one record holds across
integrations (issue 15). Links made before, that break the rule (copies a template group's
catch-up imported), keep their oldest link and the others are marked broken, with the reason."""

from urllib.parse import urlsplit

from django.db import migrations, models
from django.db.models import Q


def _site(url):
    # A frozen copy of aharally.sync.links.rally_site: migrations don't import app code.
    parts = urlsplit((url or "").strip())
    scheme = (parts.scheme or "https").lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"https": 443, "http": 80}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def fill_sites(apps, schema_editor):
    Link = apps.get_model("sync", "Link")
    Integration = apps.get_model("integrations", "Integration")
    urls = {}
    for integration in Integration.objects.all():
        source = integration.template if integration.template_id else integration
        urls[integration.pk] = _site(source.rally_url)
    for integration_id, site in urls.items():
        Link.objects.filter(integration_id=integration_id).update(rally_site=site)
    seen_objects, seen_records = set(), set()
    for link in Link.objects.filter(state="ok").order_by("created_at", "id"):
        by_object = (link.rally_site, link.rally_oid)
        by_record = (link.rally_site, link.record_type, link.record_id)
        if by_object in seen_objects or by_record in seen_records:
            Link.objects.filter(pk=link.pk).update(
                state="broken",
                state_reason="A second link of one Rally object (or record), made before "
                "aharally kept one link per Rally object: the older link is kept.",
            )
            continue
        seen_objects.add(by_object)
        seen_records.add(by_record)


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0003_oauth_client_per_rally"),
        ("sync", "0005_reconcile"),
    ]

    operations = [
        migrations.AddField(
            model_name="link",
            name="rally_site",
            field=models.CharField(default="", max_length=200),
            preserve_default=False,
        ),
        migrations.RunPython(fill_sites, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="link",
            constraint=models.UniqueConstraint(
                condition=Q(("state", "ok")),
                fields=("rally_site", "rally_oid"),
                name="one_record_per_rally_object",
            ),
        ),
        migrations.AddConstraint(
            model_name="link",
            constraint=models.UniqueConstraint(
                condition=Q(("state", "ok")),
                fields=("rally_site", "record_type", "record_id"),
                name="one_rally_object_per_record",
            ),
        ),
    ]
