"""Reading a query's answer as it arrives (`aharally.rally.stream`, `streamed_pages`)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aharally.rally import ApiKey, RallyClient, RetryPolicy
from aharally.rally.stream import EnvelopeError, EnvelopeReader

SAMPLES = Path(__file__).parent / "samples"


def _blocks(data: bytes, size: int) -> list[bytes]:
    return [data[at : at + size] for at in range(0, len(data), size)]


def _read(blocks) -> tuple[str, dict, list]:
    reader = EnvelopeReader(blocks)
    root, _ = reader.head()
    results = list(reader.results())
    return root, reader.fields, results


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 4096, 1 << 20])
@pytest.mark.parametrize(
    "sample", ["query-hierarchicalrequirement.json", "query-defect-empty.json", "unicode"]
)
def test_an_answer_read_in_blocks_of_any_size_is_what_json_reads_of_it_whole(sample, size):
    if sample == "unicode":
        # Characters of 2, 3 and 4 bytes, split across blocks; numbers split across blocks too.
        envelope = {
            "QueryResult": {
                "Errors": [],
                "Warnings": ['a "quoted" ] }'],
                "TotalResultCount": 123456789,
                "Results": [
                    {"Name": f"é ☃ 🎉 {n}", "PlanEstimate": 10**n, "Rate": 1.5e-3, "X": None}
                    for n in range(30)
                ],
                "After": [True, False],
            }
        }
        data = json.dumps(envelope, ensure_ascii=False, indent=n_spaces(size)).encode()
    else:
        data = (SAMPLES / sample).read_bytes()
    ((whole_root, whole),) = json.loads(data).items()
    root, fields, results = _read(_blocks(data, size))
    assert root == whole_root
    assert results == whole.get("Results", [])
    assert fields == {key: value for key, value in whole.items() if key != "Results"}


def n_spaces(size: int) -> int | None:
    return 2 if size % 2 else None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<html>Service Unavailable</html>",
        b'{"QueryResult": {"TotalResultCount": 2, "Results": [{"Name": "a"}, {"Na',
        b'{"QueryResult": {"Results": [1, ]}}',
        b'{"QueryResult": 3}',
        b'{"QueryResult": {}, "Other": {}}',
        b'[{"QueryResult": {}}]',
    ],
)
def test_an_answer_broken_off_or_not_an_envelope_is_an_error(data):
    with pytest.raises(EnvelopeError):
        _read(_blocks(data, 5))


class _Rally(BaseHTTPRequestHandler):
    """Pages of numbered objects; the first answer to a page breaks off half-way through."""

    broken: set[str] = set()
    requests: list[str] = []

    def do_GET(self):
        self.requests.append(self.path)
        start = int(self.path.split("start=")[1].split("&")[0])
        body = json.dumps(
            {
                "QueryResult": {
                    "Errors": [],
                    "Warnings": [],
                    "TotalResultCount": 30,
                    "StartIndex": start,
                    "PageSize": 20,
                    "Results": [
                        {"ObjectID": n, "Name": f"Story {n}"}
                        for n in range(start, min(start + 20, 31))
                    ],
                }
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if str(start) not in self.broken:
            self.broken.add(str(start))
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_page_that_breaks_off_half_way_is_asked_for_again_and_read_whole():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Rally)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sleeps: list[float] = []
    try:
        with RallyClient(
            f"http://127.0.0.1:{server.server_port}",
            credential=ApiKey("_test"),
            retry=RetryPolicy(max_attempts=3),
            sleep=sleeps.append,
        ) as client:
            seen = []
            for page in client.query("HierarchicalRequirement", page_size=20).streamed_pages():
                seen.append([obj.object_id for obj in page.objects()])
    finally:
        server.shutdown()
        server.server_close()
    # Each page: what arrived before the break, then the whole page again (an object may
    # come twice, never be missed); one retry a page, waited for as reads are.
    first, second = seen
    assert first[-20:] == list(range(1, 21)) and set(first) == set(range(1, 21))
    assert second[-10:] == list(range(21, 31)) and set(second) == set(range(21, 31))
    starts = [path.split("start=")[1].split("&")[0] for path in _Rally.requests]
    assert starts == ["1", "1", "21", "21"]
    assert len(sleeps) == 2


def test_a_query_asked_ahead_starts_with_that_page_and_then_follows_the_last_page():
    """The catch-up chains its types: the next query's first page is asked for once the
    last page of this one is in, and read from there (not asked again); one never read is
    let go."""
    from concurrent.futures import ThreadPoolExecutor

    _Rally.requests.clear()
    _Rally.broken.update({"1", "21"})  # whole answers only
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Rally)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with (
            RallyClient(
                f"http://127.0.0.1:{server.server_port}", credential=ApiKey("_test")
            ) as client,
            ThreadPoolExecutor(1) as reader,
        ):
            first = client.query("HierarchicalRequirement", page_size=20)
            second = client.query("Defect", page_size=20)
            unread = client.query("Task", page_size=20)
            asked_when = []

            def then():
                asked_when.append(len(_Rally.requests))
                second.ask_ahead(reader.submit)

            read = [
                obj.object_id
                for page in first.streamed_pages(ahead=reader.submit, then=then)
                for obj in page.objects()
            ]
            read += [obj.object_id for page in second.streamed_pages() for obj in page.objects()]
            unread.ask_ahead(reader.submit)
            unread.let_go()
    finally:
        server.shutdown()
        server.server_close()
    assert read == [*range(1, 31), *range(1, 31)]
    assert asked_when == [2]  # the second page of the first query was in when it was called
    paths = [path.split("?")[0].rsplit("/", 1)[-1] for path in _Rally.requests]
    assert paths == ["hierarchicalrequirement"] * 2 + ["defect"] * 2 + ["task"]


class _KeepAliveRally(_Rally):
    """The same pages, whole, over keep-alive connections (as Rally's): which connection
    each page came on."""

    protocol_version = "HTTP/1.1"
    ports: list[int] = []

    def do_GET(self):
        self.ports.append(self.client_address[1])
        super().do_GET()


def test_pages_read_whole_come_on_one_connection():
    """A page read to its end gives its connection back to the pool, open: the next page, and
    the next query, are asked for on it (a new connection is a TLS handshake with Rally)."""
    _KeepAliveRally.ports = []
    _Rally.broken.update({"1", "21"})  # whole answers only
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveRally)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with RallyClient(
            f"http://127.0.0.1:{server.server_port}", credential=ApiKey("_test")
        ) as client:
            for _ in range(2):
                query = client.query("HierarchicalRequirement", page_size=20)
                pages = [[o.object_id for o in page.objects()] for page in query.streamed_pages()]
                assert pages == [list(range(1, 21)), list(range(21, 31))]
            assert client.query("Task", page_size=20).first() is not None
    finally:
        server.shutdown()
        server.server_close()
    assert len(_KeepAliveRally.ports) == 5
    assert len(set(_KeepAliveRally.ports)) == 1, _KeepAliveRally.ports
