"""The shared cache keeps what the sync puts in it for as long as it asked: the database's
cache culls a third of its entries (the first by key) once it holds more than MAX_ENTRIES, and
its default of 300 is soon reached by a few integrations' kept metadata, leases and
throttles."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache

from aharally.integrations.rally_metadata import MetadataCache

pytestmark = pytest.mark.django_db(transaction=True)


def test_metadata_kept_survives_a_thousand_other_entries():
    kept = MetadataCache(site="https://rally.example", workspace_oid=1, config_fingerprint="f")
    kept.put("states", "PortfolioItem/Feature", {"Done": "/state/1"})
    kept.drop()  # a generation key, never expiring, as after Rally refused what was kept
    kept.put("states", "PortfolioItem/Feature", {"Done": "/state/2"})

    run = uuid.uuid4().hex[:8]
    for number in range(1000):
        # Keys sorting after "rally-meta" too: a cull takes the first third by key.
        cache.set(f"zz-{run}-{number}", number, timeout=60)

    again = MetadataCache(site="https://rally.example", workspace_oid=1, config_fingerprint="f")
    assert again.get("states", "PortfolioItem/Feature") == {"Done": "/state/2"}
    cache.delete_many([f"zz-{run}-{number}" for number in range(1000)])
