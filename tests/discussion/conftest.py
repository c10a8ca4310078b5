from __future__ import annotations

import pytest

from tests.factories import make_feature


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    """Each test's files in its own folder (FileSystemStorage reads MEDIA_ROOT afresh)."""
    settings.MEDIA_ROOT = str(tmp_path / "attachments")
    return tmp_path / "attachments"


@pytest.fixture
def feature(cast):
    return make_feature(cast.workspace, name="Single sign-on")
