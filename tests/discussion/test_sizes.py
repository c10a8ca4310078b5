"""File sizes in decimal units, as Rally states its 50 MB limit."""

from __future__ import annotations

import pytest

from aharally.discussion.sizes import file_size
from tests.discussion.support import HTMX, url


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (999, "999 bytes"),
        (1000, "1 kB"),
        (1536, "1.5 kB"),
        (50_000_000, "50 MB"),
        (52_428_800, "52.4 MB"),
        (3_000_000_000, "3 GB"),
        (None, "0 bytes"),
    ],
)
def test_sizes_are_shown_in_decimal_units(size, shown):
    assert file_size(size) == shown


def test_the_upload_form_states_rallys_limit_as_rally_does(client, cast, feature, settings):
    settings.ATTACHMENT_MAX_BYTES = 50_000_000
    client.force_login(cast.contributor)
    html = client.get(url(feature), headers=HTMX).content.decode()
    assert "up to 50 MB" in html
