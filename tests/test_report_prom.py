# SPDX-License-Identifier: Apache-2.0
"""The report's Prometheus client against small HTTP servers on 127.0.0.1: what it sends, what it reads, its errors.

A real Prometheus answers in ``test_report_queries.py``; here each server plays one situation
(an HTML page, a Prometheus error, a slow or absent server, a proxy path prefix) exactly.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from otel_llmperf.report.collect import NoSeriesError, check_series
from otel_llmperf.report.prom import MAX_POINTS, Prometheus, PrometheusError, Series, parse_header
from otel_llmperf.report.queries import Scope
from stack import free_port


@dataclass
class Answer:
    """What the stub server sends back."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0


@dataclass
class Request:
    """What the stub server received."""

    method: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case: HTTP header names are case-insensitive


@dataclass
class Stub:
    """A loopback HTTP server answering each request with ``respond(request)``."""

    respond: Callable[[Request], Answer]
    requests: list[Request] = field(default_factory=list)
    url: str = ""


def _json(data: Any, status: int = 200) -> Answer:
    return Answer(status, json.dumps(data).encode())


def _success(data: Any) -> Answer:
    return _json({"status": "success", "data": data})


@pytest.fixture(name="stub")
def fixture_stub() -> Iterator[Stub]:
    stub = Stub(lambda _: _success({"resultType": "vector", "result": []}))

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            params = urllib.parse.parse_qs(query or body, keep_blank_values=True)
            request = Request(self.command, path, params, {k.lower(): v for k, v in self.headers.items()})
            stub.requests.append(request)
            answer = stub.respond(request)
            time.sleep(answer.delay)
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except OSError:
                pass  # the client gave up (the timeout test)

        do_GET = do_POST = _handle

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    stub.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()


def test_connection_refused_names_the_url_and_the_cause() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(PrometheusError) as raised:
        Prometheus(url, timeout=5).check()
    assert (
        str(raised.value) == f"cannot reach Prometheus at {url}: connection refused (is Prometheus running "
        "there, on that port?)"
    )


def test_an_html_page_is_not_a_prometheus(stub: Stub) -> None:
    stub.respond = lambda _: Answer(200, b"<!doctype html><html><body>Welcome</body></html>", "text/html")
    with pytest.raises(PrometheusError) as raised:
        Prometheus(stub.url).query("up", 0)
    message = str(raised.value)
    assert message.startswith(f"{stub.url} does not look like a Prometheus")
    assert "answered HTML" in message and "path prefix" in message


def test_a_prometheus_error_is_quoted_with_the_expression(stub: Stub) -> None:
    error = "1:6: parse error: unclosed left parenthesis"
    stub.respond = lambda _: _json({"status": "error", "errorType": "bad_data", "error": error}, 400)
    with pytest.raises(PrometheusError) as raised:
        Prometheus(stub.url).query_range("sum(up", 0, 60, 15)
    assert str(raised.value) == f"Prometheus at {stub.url} answered HTTP 400 (bad_data): {error}\n  query: sum(up"


def test_malformed_json_is_reported(stub: Stub) -> None:
    stub.respond = lambda _: Answer(200, b'{"status": "success", "data": {')
    with pytest.raises(PrometheusError, match=r"answered malformed JSON \(.*\) instead of the Prometheus"):
        Prometheus(stub.url).query("up", 0)


def test_a_wrong_path_gets_a_hint_about_the_prefix(stub: Stub) -> None:
    stub.respond = lambda _: Answer(404, b"404 page not found", "text/plain; charset=utf-8")
    with pytest.raises(PrometheusError) as raised:
        Prometheus(stub.url + "/wrong").check()
    assert str(raised.value).startswith(f"{stub.url}/wrong/api/v1/query answered HTTP 404 (text/plain)")
    assert "path prefix" in str(raised.value)
    # check() fell back from the missing buildinfo to a trivial query before giving up.
    assert [r.path for r in stub.requests] == ["/wrong/api/v1/status/buildinfo", "/wrong/api/v1/query"]


def test_unauthorised_says_how_to_pass_credentials(stub: Stub) -> None:
    stub.respond = lambda _: Answer(401, b"Unauthorized", "text/plain")
    with pytest.raises(PrometheusError, match=r"refused access \(HTTP 401\).*--prometheus-header"):
        Prometheus(stub.url).check()


def test_a_slow_server_times_out(stub: Stub) -> None:
    stub.respond = lambda _: Answer(delay=1.5)
    started = time.monotonic()
    with pytest.raises(PrometheusError, match="no answer before the timeout"):
        Prometheus(stub.url, timeout=0.3).query("up", 0)
    assert time.monotonic() - started < 1.4


def test_requests_keep_the_path_prefix_and_send_headers(stub: Stub) -> None:
    stub.respond = lambda request: (
        _success({"resultType": "vector", "result": []})
        if request.path.startswith("/prometheus/api/v1/")
        else Answer(404, b"not here", "text/plain")
    )
    prom = Prometheus(stub.url + "/prometheus/", headers={"Authorization": "Bearer s3cret", "X-Scope-OrgID": "t1"})
    assert prom.url == stub.url + "/prometheus"
    assert prom.query('sum(rate(x{job=~"a|b"}[5m]))', 1700000000.5) == []
    assert prom.query_range("up", 100, 700, 60) == []
    query, query_range = stub.requests
    assert (query.method, query.path) == ("POST", "/prometheus/api/v1/query")
    assert query.params == {"query": ['sum(rate(x{job=~"a|b"}[5m]))'], "time": ["1700000000.5"]}
    assert query_range.path == "/prometheus/api/v1/query_range"
    assert query_range.params == {"query": ["up"], "start": ["100"], "end": ["700"], "step": ["60"]}
    assert query.headers["authorization"] == "Bearer s3cret" and query.headers["x-scope-orgid"] == "t1"


def test_credentials_in_the_url_become_basic_auth_and_stay_out_of_messages(stub: Stub) -> None:
    stub.respond = lambda _: _success(["up"])
    host = stub.url.removeprefix("http://")
    prom = Prometheus(f"http://alice:p%40ss@{host}")
    assert prom.metric_names() == {"up"}
    assert stub.requests[0].headers["authorization"] == "Basic " + base64.b64encode(b"alice:p@ss").decode()
    assert prom.url == stub.url and "p%40ss" not in repr(prom)


def test_results_are_parsed_with_nan_and_infinities(stub: Stub) -> None:
    matrix = {
        "resultType": "matrix",
        "result": [
            {"metric": {"__name__": "x", "job": "a"}, "values": [[10, "1.5"], [20, "NaN"], [30, "+Inf"], [40, "-Inf"]]}
        ],
    }
    stub.respond = lambda _: _success(matrix)
    (series,) = Prometheus(stub.url).query_range("x", 10, 40, 10)
    assert series.labels == {"job": "a"}
    assert [t for t, _ in series.points] == [10.0, 20.0, 30.0, 40.0]
    values = [v for _, v in series.points]
    assert values[0] == 1.5 and math.isnan(values[1]) and values[2:] == [math.inf, -math.inf]
    stub.respond = lambda _: _success({"resultType": "scalar", "result": [50.25, "3"]})
    assert Prometheus(stub.url).query("3", 50.25) == [Series({}, [(50.25, 3.0)])]
    stub.respond = lambda _: _success({"resultType": "vector", "result": [{"metric": {"m": "1"}, "value": [5, "2"]}]})
    assert Prometheus(stub.url).query("v", 5) == [Series({"m": "1"}, [(5.0, 2.0)])]


def test_an_unreadable_result_is_an_error(stub: Stub) -> None:
    stub.respond = lambda _: _success({"resultType": "string", "result": [1, "text"]})
    with pytest.raises(PrometheusError, match="cannot read"):
        Prometheus(stub.url).query('"text"', 1)


def test_check_reads_the_version_or_falls_back_to_a_query(stub: Stub) -> None:
    stub.respond = lambda _: _success({"version": "3.14.0", "revision": "x"})
    prom = Prometheus(stub.url)
    prom.check()
    assert prom.version == "3.14.0"
    stub.respond = lambda request: (
        Answer(404, b"404 page not found", "text/plain")
        if request.path.endswith("buildinfo")
        else _success({"resultType": "scalar", "result": [0, "1"]})
    )
    Prometheus(stub.url).check()  # a Prometheus-compatible API without buildinfo is fine


def test_too_many_points_fail_before_asking(stub: Stub) -> None:
    with pytest.raises(PrometheusError, match=f"exceed Prometheus' limit of {MAX_POINTS}: use a larger step"):
        Prometheus(stub.url).query_range("up", 0, 7 * 86400, 15)
    assert stub.requests == []


def test_label_values_send_match_and_range(stub: Stub) -> None:
    stub.respond = lambda _: _success(["a", "b"])
    assert Prometheus(stub.url).label_values("job", match='{__name__="x"}', start=1, end=2.5) == {"a", "b"}
    (request,) = stub.requests
    assert request.path == "/api/v1/label/job/values"
    assert request.params == {"match[]": ['{__name__="x"}'], "start": ["1"], "end": ["2.5"]}


def test_a_prometheus_without_our_series_says_so(stub: Stub) -> None:
    stub.respond = lambda _: _success([])
    with pytest.raises(NoSeriesError) as raised:
        check_series(Prometheus(stub.url), Scope(job=None, window="5m"), 0, 3600, "1h")
    message = str(raised.value)
    assert message.startswith(f"Prometheus at {stub.url} holds none of otel-llmperf's series")
    assert "between 1970-01-01T00:00:00Z and 1970-01-01T01:00:00Z" in message and "scraped" in message


@pytest.mark.parametrize("url", ["127.0.0.1:9090", "ftp://host", "http://", "http://host:notaport"])
def test_a_bad_url_is_refused(url: str) -> None:
    with pytest.raises(PrometheusError, match="is not a Prometheus URL"):
        Prometheus(url)


def test_parse_header() -> None:
    assert parse_header("Authorization: Bearer a:b") == ("Authorization", "Bearer a:b")
    for bad in ("no colon", ": value", "Two words: x", "X: a\nb"):
        with pytest.raises(ValueError, match="Name: value"):
            parse_header(bad)
