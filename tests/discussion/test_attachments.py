"""Attachments: stored through Django's storage API, served to members with safe headers."""

from __future__ import annotations

from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from aharally.discussion.models import Attachment
from aharally.records.history import record_history
from tests.discussion.support import HTMX, url

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def upload(client, record, name, content, *, content_type="application/octet-stream"):
    return client.post(
        url(record, "attachment_upload"),
        {"file": SimpleUploadedFile(name, content, content_type=content_type)},
        headers=HTMX,
    )


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_an_upload_is_stored_listed_and_downloaded_byte_for_byte(
    client, cast, feature, attachments_dir
):
    client.force_login(cast.contributor)
    response = upload(client, feature, "../../mock-up.png", PNG, content_type="image/png")
    assert response.status_code == 200
    attachment = Attachment.objects.get()
    assert (attachment.name, attachment.size, attachment.mime_type) == (
        "mock-up.png",
        len(PNG),
        "image/png",
    )
    stored = Path(attachments_dir) / attachment.file.name
    assert stored.read_bytes() == PNG
    # The stored name is random, not the uploader's.
    assert "mock-up" not in attachment.file.name
    html = response.content.decode()
    assert "mock-up.png" in html and "contributor@example.com" in html
    assert f'src="{url(feature, "attachment", attachment.pk)}?preview"' in html
    [line] = record_history(feature)
    assert (line.label, line.new_value) == ("Attachments", "mock-up.png")
    assert (line.verb, line.subject, line.values_shown) == ("attached", "mock-up.png", "")

    client.force_login(cast.viewer)
    download = client.get(url(feature, "attachment", attachment.pk))
    assert download.status_code == 200
    assert body(download) == PNG
    assert download["Content-Type"] == "image/png"
    assert download["Content-Disposition"] == 'attachment; filename="mock-up.png"'
    assert download["X-Content-Type-Options"] == "nosniff"
    preview = client.get(url(feature, "attachment", attachment.pk) + "?preview")
    assert preview["Content-Disposition"] == 'inline; filename="mock-up.png"'


def test_html_and_svg_are_always_downloads(client, cast, feature):
    client.force_login(cast.contributor)
    upload(client, feature, "page.html", b"<script>alert(1)</script>", content_type="text/html")
    upload(client, feature, "logo.svg", b"<svg onload='alert(1)'/>", content_type="image/svg+xml")
    for attachment in Attachment.objects.all():
        for suffix in ("", "?preview"):
            response = client.get(url(feature, "attachment", attachment.pk) + suffix)
            assert response["Content-Disposition"].startswith("attachment;")
            assert response["X-Content-Type-Options"] == "nosniff"
            assert "sandbox" in response["Content-Security-Policy"]
    assert sorted(Attachment.objects.values_list("mime_type", flat=True)) == [
        "image/svg+xml",
        "text/html",
    ]


def test_a_file_over_the_limit_is_refused_with_its_size_and_the_limit(
    client, cast, feature, settings, attachments_dir
):
    settings.ATTACHMENT_MAX_BYTES = 1000
    client.force_login(cast.contributor)
    response = upload(client, feature, "big.log", b"x" * 1001)
    assert response.status_code == 422
    html = response.content.decode()
    assert "1,001 bytes" in html and "1,000 bytes" in html
    assert not Attachment.objects.exists()
    assert not Path(attachments_dir).exists() or not any(Path(attachments_dir).rglob("*.*"))
    assert upload(client, feature, "fits.log", b"x" * 1000).status_code == 200


def test_no_file_is_refused_with_a_message(client, cast, feature):
    client.force_login(cast.contributor)
    response = client.post(url(feature, "attachment_upload"), {}, headers=HTMX)
    assert response.status_code == 422
    assert "Choose a file to attach." in response.content.decode()


def test_deleting_removes_the_row_and_the_file(client, cast, feature, attachments_dir):
    client.force_login(cast.contributor)
    upload(client, feature, "notes.txt", b"hello", content_type="text/plain")
    attachment = Attachment.objects.get()
    stored = Path(attachments_dir) / attachment.file.name
    assert stored.exists()
    client.force_login(cast.viewer)
    assert client.post(url(feature, "attachment_delete", attachment.pk)).status_code == 403
    client.force_login(cast.contributor)
    with django_on_commit():
        response = client.post(url(feature, "attachment_delete", attachment.pk), headers=HTMX)
    assert response.status_code == 200
    assert not Attachment.objects.exists()
    assert not stored.exists()
    assert record_history(feature)[0].old_value == "notes.txt"


def test_a_missing_file_downloads_as_404(client, cast, feature, attachments_dir):
    client.force_login(cast.contributor)
    upload(client, feature, "gone.txt", b"bye")
    attachment = Attachment.objects.get()
    (Path(attachments_dir) / attachment.file.name).unlink()
    assert client.get(url(feature, "attachment", attachment.pk)).status_code == 404


def django_on_commit():
    """Run on_commit callbacks inside a test's transaction (the file goes after the commit)."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)
