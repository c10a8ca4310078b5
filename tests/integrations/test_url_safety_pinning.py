"""IPv6 forms of internal addresses are refused, and connections go to the checked address."""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from aharally.integrations.connection import RallyProblem, client_for, probe_rally_url
from aharally.integrations.url_safety import UnsafeRallyURL, validate_rally_url
from aharally.rally import ApiKey, RallyError
from aharally.rally.pinning import PinnedAdapter
from tests.factories import make_workspace

REBINDING_NAME = "rally.rebinding.test"
PUBLIC = "93.184.215.14"


@pytest.fixture
def strict(settings):
    settings.RALLY_ALLOW_HTTP = False
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = False
    return settings


@pytest.mark.parametrize(
    "url",
    [
        "https://[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
        "https://[2002:a9fe:a9fe::]",  # 6to4 of 169.254.169.254 (cloud metadata)
        "https://[2002:0a00:0001::1]",  # 6to4 of 10.0.0.1
        "https://[fec0::1]",  # site-local
        "https://[feff::1]",  # site-local, top of the range
        "https://[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
        "https://[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
        "https://[::127.0.0.1]",  # IPv4-compatible
        "https://[::ffff:10.0.0.1]",  # IPv4-mapped
        "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo, client 127.0.0.1
    ],
)
def test_ipv6_addresses_that_map_to_internal_ones_are_refused(strict, url):
    with pytest.raises(UnsafeRallyURL, match="internal address"):
        validate_rally_url(url)


def test_a_6to4_address_of_a_public_ipv4_address_is_allowed(strict):
    assert validate_rally_url("https://[2002:5db8:d70e::1]") == "https://[2002:5db8:d70e::1]"


class Recording(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):
        Recording.hits.append(self.headers.get("Host", ""))
        body = b'{"OperationResult": {"Errors": [], "Warnings": []}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve(tls_context=None):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    if tls_context is not None:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def inside_server():
    Recording.hits.clear()
    server = _serve()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def rebinding_dns(monkeypatch):
    """A name that answers a public address the first time, then 127.0.0.1 (DNS rebinding)."""
    real = socket.getaddrinfo
    answers = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != REBINDING_NAME:
            return real(host, port, *args, **kwargs)
        address = PUBLIC if not answers else "127.0.0.1"
        answers.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.django_db
def test_a_name_that_rebinds_to_an_inside_address_after_the_check_is_not_connected_to(
    settings, inside_server, rebinding_dns
):
    from aharally.integrations.models import Integration

    settings.RALLY_ALLOW_HTTP = True
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = False
    url = f"http://{REBINDING_NAME}:{inside_server}"
    integration = Integration.objects.create(
        workspace=make_workspace(), name="Rally", rally_url=url, api_key="_key-0123456789"
    )
    client = client_for(integration, credential=ApiKey("_key-0123456789"))  # checks: public
    with client, pytest.raises(RallyError):
        client.subscription()
    with pytest.raises(RallyProblem):
        probe_rally_url(url)
    assert Recording.hits == []  # nothing reached the inside server
    assert rebinding_dns[0] == PUBLIC and set(rebinding_dns[1:]) == {"127.0.0.1"}


def test_the_sandbox_on_loopback_still_works_when_private_addresses_are_allowed(
    settings, rally_sandbox
):
    settings.RALLY_ALLOW_HTTP = True
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = True
    assert probe_rally_url(rally_sandbox.base_url) is None


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    from rally_sandbox.tls import ensure_certificates

    certs = ensure_certificates(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    server = _serve(context)
    yield server.server_address[1], str(certs.ca_cert)
    server.shutdown()
    server.server_close()


def test_a_pinned_connection_still_verifies_tls_against_the_host_name(tls_server):
    port, ca = tls_server
    Recording.hits.clear()
    session = requests.Session()
    # The name the certificate is for, pinned to where it was checked to live.
    session.mount("https://", PinnedAdapter(lambda host, port: "127.0.0.1"))
    response = session.get(f"https://localhost:{port}/", verify=ca, timeout=10)
    assert response.status_code == 200
    assert Recording.hits == [f"localhost:{port}"]  # Host is the name, not the address

    # A name the certificate does not cover fails verification, though the address is the same.
    other = requests.Session()
    other.mount("https://", PinnedAdapter(lambda host, port: "127.0.0.1"))
    with pytest.raises(requests.exceptions.SSLError):
        other.get(f"https://rally.elsewhere.test:{port}/", verify=ca, timeout=10)
