# SPDX-License-Identifier: Apache-2.0
"""A small client of the Prometheus HTTP API (``/api/v1/query``, ``query_range``, label values), stdlib only.

It speaks to any server of that API: Prometheus, or Thanos, Mimir, VictoriaMetrics behind a path
prefix (``http://host:9090/prometheus``). Credentials go in ``headers`` (``Authorization: Bearer …``)
or in the URL (``http://user:password@host:9090``, sent as basic auth and never shown in messages).
Every failure is a :class:`PrometheusError` whose message says which URL, what happened and what to
check, ready to print to the user.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Prometheus refuses range queries of more points than this per series (a hard limit of its API).
MAX_POINTS = 11_000


class PrometheusError(Exception):
    """Prometheus could not answer; str() is a message for the user (URL, cause, what to check)."""


class _NotTheApi(PrometheusError):
    """The server answered, but not with the Prometheus HTTP API's JSON."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Series:
    """One labelled series of a range query (or one sample of an instant query: one point)."""

    labels: dict[str, str]  # without __name__
    points: list[tuple[float, float]]  # (unix seconds, value); NaN/±Inf kept as float('nan')/inf


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` → ``("Name", "value")``; a ValueError saying the expected form otherwise."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip() or any(c in name for c in " \t\r\n") or "\n" in value or "\r" in value:
        raise ValueError(f"a header must look like 'Name: value' (e.g. 'Authorization: Bearer TOKEN'); got {text!r}")
    return name.strip(), value.strip()


def _number(text: object) -> float:
    # Prometheus sends sample values as strings: "1.5", "NaN", "+Inf", "-Inf"; float() reads all of them.
    return float(str(text))


def _points(raw: Any) -> list[tuple[float, float]]:
    return [(float(stamp), _number(value)) for stamp, value in raw]


def _series(result_type: str, result: Any) -> list[Series]:
    if result_type == "scalar":
        stamp, value = result
        return [Series({}, [(float(stamp), _number(value))])]
    if result_type not in ("vector", "matrix"):
        raise ValueError(f"unexpected result type {result_type!r}")
    series = []
    for item in result:
        labels = {str(k): str(v) for k, v in item.get("metric", {}).items() if k != "__name__"}
        if result_type == "vector":
            # Native-histogram samples carry "histogram" instead of "value": not produced by our queries.
            points = [(float(item["value"][0]), _number(item["value"][1]))] if "value" in item else []
        else:
            points = _points(item.get("values", []))
        series.append(Series(labels, points))
    return series


def _cause(error: BaseException) -> str:
    """A short human description of a connection-level failure."""
    reason: object = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is Prometheus running there, on that port?)"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "no answer before the timeout"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name ({reason.strerror or reason})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason)


class Prometheus:
    """Client of one Prometheus HTTP API endpoint (optionally under a path prefix)."""

    def __init__(self, url: str, timeout: float = 30.0, headers: Mapping[str, str] | None = None) -> None:
        parts = urllib.parse.urlsplit(url.strip())
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
            raise PrometheusError(
                f"{url!r} is not a Prometheus URL: expected http(s)://host:port[/prefix], e.g. http://127.0.0.1:9090"
            )
        self._headers = {"Accept": "application/json", "User-Agent": "otel-llmperf-report"}
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {token}"
        self._headers.update(headers or {})
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        netloc = f"{host}:{port}" if port else host
        # The base URL without credentials: it is what every message shows.
        self.url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.timeout = timeout
        self.version: str | None = None  # filled by check() when the server reports its build
        self.warnings: list[str] = []  # warnings Prometheus attached to answers (e.g. "PromQL info")

    def __repr__(self) -> str:
        return f"Prometheus({self.url!r})"

    # ------------------------------------------------------------------ HTTP

    def _get(self, path: str, params: Mapping[str, str] | None, expr: str | None, post: bool = False) -> Any:
        """The ``data`` of an API answer; a PrometheusError for every way it can fail."""
        endpoint = f"{self.url}{path}"
        body = urllib.parse.urlencode(params or {}, doseq=True)
        if post:
            # POST keeps long PromQL out of URL length limits (Prometheus accepts form-encoded queries).
            request = urllib.request.Request(endpoint, data=body.encode("utf-8"), headers=self._headers, method="POST")
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        else:
            request = urllib.request.Request(
                f"{endpoint}?{body}" if body else endpoint, headers=self._headers, method="GET"
            )
        query = f"\n  query: {expr}" if expr else ""
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = int(response.status)
                content_type = response.headers.get("Content-Type", "")
                raw = response.read()
        except urllib.error.HTTPError as error:
            status, content_type = error.code, error.headers.get("Content-Type", "") if error.headers else ""
            raw = error.read() or b""
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {_cause(error)}") from None
        try:
            answer = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            answer, problem = None, f"malformed JSON ({error})" if "json" in content_type else ""
        else:
            problem = "JSON without the API's status field" if "json" in content_type else ""
        if not isinstance(answer, dict) or "status" not in answer:
            raise _NotTheApi(self._not_prometheus(endpoint, status, content_type, raw, problem), status)
        if answer["status"] != "success":
            kind = answer.get("errorType", "error")
            raise PrometheusError(
                f"Prometheus at {self.url} answered HTTP {status} ({kind}): {answer.get('error', 'no message')}{query}"
            )
        self.warnings.extend(str(w) for w in answer.get("warnings", []) or [])
        return answer.get("data")

    def _not_prometheus(self, endpoint: str, status: int, content_type: str, raw: bytes, problem: str) -> str:
        if status in (401, 403):
            return (
                f"Prometheus at {self.url} refused access (HTTP {status}): pass credentials, e.g. "
                "--prometheus-header 'Authorization: Bearer TOKEN' or http://user:password@host"
            )
        what = content_type.partition(";")[0].strip() or "no content type"
        if status >= 400:
            return (
                f"{endpoint} answered HTTP {status} ({what}), not the Prometheus HTTP API: check the URL and its "
                "path prefix (e.g. http://host:9090, or http://host/prometheus behind a proxy)"
            )
        kind = problem or ("HTML" if b"<html" in raw[:2000].lower() or what == "text/html" else what)
        return (
            f"{self.url} does not look like a Prometheus: {endpoint} answered {kind} instead of the Prometheus "
            "HTTP API's JSON; check the URL (and its path prefix)"
        )

    # ------------------------------------------------------------------ API

    def check(self) -> None:
        """Make sure a Prometheus HTTP API answers at the URL; a PrometheusError saying why not."""
        try:
            data = self._get("/api/v1/status/buildinfo", None, None)
        except _NotTheApi as error:
            # Some Prometheus-compatible servers lack buildinfo: a trivial query decides then.
            if error.status != 404:
                raise
            self.query("1", 0.0)
            return
        if isinstance(data, dict):
            self.version = str(data.get("version") or "") or None

    def query(self, expr: str, at: float) -> list[Series]:
        """An instant query at ``at`` (unix seconds); a scalar result is one Series without labels."""
        data = self._get("/api/v1/query", {"query": expr, "time": _stamp(at)}, expr, post=True)
        return self._result(data, expr)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """A range query from ``start`` to ``end`` every ``step`` seconds."""
        if not step > 0 or not end >= start:
            raise PrometheusError(f"invalid range: start {start}, end {end}, step {step} (step > 0, end >= start)")
        if (end - start) / step + 1 > MAX_POINTS:
            raise PrometheusError(
                f"{(end - start) / step + 1:.0f} points per series exceed Prometheus' limit of {MAX_POINTS}: "
                f"use a larger step (at least {math.ceil((end - start) / (MAX_POINTS - 1))} s) or a shorter range"
            )
        params = {"query": expr, "start": _stamp(start), "end": _stamp(end), "step": _stamp(step)}
        return self._result(self._get("/api/v1/query_range", params, expr, post=True), expr)

    def metric_names(self, match: str | None = None, start: float | None = None, end: float | None = None) -> set[str]:
        """Every metric name Prometheus holds (of series matching ``match``, between ``start`` and ``end``)."""
        return self.label_values("__name__", match, start, end)

    def label_values(
        self, label: str, match: str | None = None, start: float | None = None, end: float | None = None
    ) -> set[str]:
        """The values of ``label`` (in series matching the selector ``match``, between ``start`` and ``end``)."""
        params = {key: _stamp(value) for key, value in (("start", start), ("end", end)) if value is not None}
        if match is not None:
            params["match[]"] = match
        data = self._get(f"/api/v1/label/{urllib.parse.quote(label, safe='')}/values", params, match)
        if not isinstance(data, list):
            raise PrometheusError(f"Prometheus at {self.url} sent label values in an unexpected shape: {data!r:.200}")
        return {str(value) for value in data}

    def _result(self, data: Any, expr: str) -> list[Series]:
        try:
            return _series(str(data["resultType"]), data["result"])
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise PrometheusError(
                f"Prometheus at {self.url} sent an answer this client cannot read ({error!r}):\n  query: {expr}"
            ) from None


def _stamp(seconds: float) -> str:
    """A time or duration as Prometheus reads it: decimal seconds, at most millisecond precision."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text or "0"
