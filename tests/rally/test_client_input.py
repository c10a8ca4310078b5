"""Bad input is refused before anything is sent (no server needed: nothing reaches one)."""

from __future__ import annotations

import pytest

from aharally.rally import ApiKey, OAuthToken, RallyClient, RallyConfigError, where
from tests.rally.conftest import RequestLog

pytestmark = pytest.mark.sandbox_only


@pytest.fixture
def offline():
    # Port 9 (discard) on loopback: any request that slipped through would fail loudly.
    with RallyClient("http://127.0.0.1:9", credential=ApiKey("key")) as client:
        yield client


def test_a_query_must_be_built_not_written_as_a_string(offline):
    with pytest.raises(TypeError, match="built"):
        offline.query("Defect", query='(Name = "x") OR (ObjectID > 0)')


@pytest.mark.parametrize("type_path", ["Defect?x=1", "../user", "a/b/c", "", "Defect Story"])
def test_a_type_that_is_not_a_rally_type_path_is_refused(offline, type_path):
    with pytest.raises(ValueError, match="type"):
        offline.query(type_path)


@pytest.mark.parametrize("fetch", [["Name,ObjectID"], ["Name&x=1"], ["Na me"]])
def test_fetch_names_that_would_smuggle_parameters_are_refused(offline, fetch):
    with pytest.raises(ValueError, match="attribute"):
        offline.query("Defect", fetch=fetch)


def test_page_sizes_outside_rallys_range_are_refused(offline):
    for size in (0, 2001):
        with pytest.raises(ValueError, match="page size"):
            offline.query("Defect", page_size=size)


def test_a_ref_to_another_host_is_not_followed_with_our_credential(offline):
    log = RequestLog(offline)
    with pytest.raises(RallyConfigError, match="another host"):
        offline.transport.send("GET", "https://attacker.example/slm/webservice/v2.0/defect/1")
    assert len(log) == 0


def test_field_names_in_a_write_are_checked(offline):
    with pytest.raises(ValueError, match="attribute"):
        offline.create("Defect", {"Name": "x", "Bad Field": 1})


def test_empty_credentials_and_non_http_urls_are_refused():
    with pytest.raises(ValueError, match="empty"):
        ApiKey("  ")
    with pytest.raises(ValueError, match="empty"):
        OAuthToken("")
    with pytest.raises(ValueError, match="https://"):
        RallyClient("ftp://rally.example", credential=ApiKey("k"))


def test_credentials_never_show_their_secret_in_repr():
    token = OAuthToken("access-secret", refresh_token="refresh-secret")
    assert "secret" not in repr(token) and "secret" not in repr(token.tokens)
    assert "key-secret" not in repr(ApiKey("key-secret"))


def test_nothing_is_sent_until_query_results_are_used(offline):
    log = RequestLog(offline)
    offline.query("Defect", query=where("Name", "=", "x"))
    assert len(log) == 0
