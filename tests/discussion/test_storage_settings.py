"""Where attachments are kept: the local file system by default, an S3-compatible bucket
through django-storages when ATTACHMENTS_S3_BUCKET is set (settings read in a fresh process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from django.conf import settings

PRINT = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'storage': s.STORAGES['default'], 'media': str(s.MEDIA_ROOT), "
    "'limit': s.ATTACHMENT_MAX_BYTES}))"
)


def _settings(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ATTACHMENT")}
    result = subprocess.run(
        [sys.executable, "-c", PRINT],
        env={**clean, "DJANGO_SETTINGS_MODULE": "aharally.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=settings.BASE_DIR,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_files_go_under_var_by_default_up_to_rallys_limit():
    found = _settings()
    assert found["storage"] == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert found["media"] == str(settings.BASE_DIR / "var" / "attachments")
    assert found["limit"] == 50_000_000


def test_a_bucket_is_used_through_django_storages_when_named():
    found = _settings(
        ATTACHMENTS_S3_BUCKET="aharally-files",
        ATTACHMENTS_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        ATTACHMENTS_S3_REGION="eu-west-1",
        ATTACHMENTS_S3_PREFIX="prod",
        ATTACHMENTS_S3_ADDRESSING_STYLE="path",
        ATTACHMENT_MAX_BYTES="1000",
    )
    storage = found["storage"]
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    assert storage["OPTIONS"]["bucket_name"] == "aharally-files"
    assert storage["OPTIONS"]["endpoint_url"] == "http://127.0.0.1:9000"
    assert storage["OPTIONS"]["location"] == "prod"
    # Private objects; aharally serves them itself.
    assert storage["OPTIONS"]["default_acl"] == "private"
    assert found["limit"] == 1000


def test_django_storages_accepts_those_options():
    """Built as Django would build it (no request is sent: boto3 connects on first use)."""
    from storages.backends import s3  # requirements.txt pins it: missing is a failure

    found = _settings(ATTACHMENTS_S3_BUCKET="aharally-files", ATTACHMENTS_S3_REGION="eu-west-1")
    storage = s3.S3Storage(**found["storage"]["OPTIONS"])
    assert storage.bucket_name == "aharally-files"
    assert storage.default_acl == "private"
    assert storage.file_overwrite is False
