# SPDX-License-Identifier: Apache-2.0
"""Network probes with short timeouts: does an OTLP receiver answer, is a scrape port free.

Each probe returns a :class:`Probe` and never raises. :class:`Running` runs probes in daemon
threads against one deadline, so a receiver that never answers costs the doctor at most that
deadline, and an unfinished probe does not hold up the interpreter's exit.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

# What our own exposition contains once a call was recorded (metric names and the scope label).
_OUR_SERIES = ("gen_ai_client_", "llmperf_", 'otel_scope_name="otel_llmperf"')


@dataclass(frozen=True)
class Probe:
    """What one probe saw: ``state`` is machine-readable, ``detail`` says it to a person."""

    state: str
    detail: str
    status: int | None = None


def _failure(error: BaseException, timeout: float) -> Probe:
    if isinstance(error, ConnectionRefusedError):
        return Probe("refused", "connection refused")
    if isinstance(error, (TimeoutError, socket.timeout)):
        return Probe("timeout", f"no answer within {timeout:g} s")
    if isinstance(error, socket.gaierror):
        return Probe("unresolved", f"host not found ({error.strerror or error})")
    if isinstance(error, ssl.SSLError):
        return Probe("tls", f"TLS failed ({error.reason or error})")
    if isinstance(error, (http.client.HTTPException, ConnectionError)):
        return Probe("closed", f"the connection closed without an HTTP answer ({type(error).__name__})")
    if isinstance(error, OSError):
        return Probe("unreachable", error.strerror or str(error))
    return Probe("failed", f"{type(error).__name__}: {error}")


def _connection(url: str, timeout: float, cafile: str | None) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=cafile)
        return http.client.HTTPSConnection(parts.netloc, timeout=timeout, context=context), path
    if parts.scheme != "http":
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    return http.client.HTTPConnection(parts.netloc, timeout=timeout), path


def probe_otlp_http(url: str, headers: Mapping[str, str], timeout: float, cafile: str | None = None) -> Probe:
    """POST an empty OTLP export (a valid, empty protobuf message) to ``url`` and read the status."""
    try:
        connection, path = _connection(url, timeout, cafile)
    except (ValueError, OSError) as error:
        return Probe("invalid", str(error))
    try:
        connection.request("POST", path, body=b"", headers={"Content-Type": "application/x-protobuf", **headers})
        response = connection.getresponse()
        response.read(65536)
    except Exception as error:
        return _failure(error, timeout)
    finally:
        connection.close()
    state = "ok" if 200 <= response.status < 300 else "http"
    return Probe(state, f"HTTP {response.status} {response.reason}".rstrip(), response.status)


def grpc_address(endpoint: str) -> tuple[str, int] | None:
    """Host and port the OTLP/gRPC exporter dials for ``endpoint`` (a URL or ``host:port``)."""
    # The exporter keeps only the netloc of a URL, and takes anything without a scheme as it is.
    netloc = urlsplit(endpoint).netloc if "://" in endpoint else endpoint
    try:
        parts = urlsplit(f"//{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return host, port or 4317


def probe_tcp(host: str, port: int, timeout: float) -> Probe:
    """Whether a TCP connection to ``host:port`` opens (all an OTLP/gRPC receiver shows without a call)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return Probe("ok", "TCP connection accepted")
    except Exception as error:
        return _failure(error, timeout)


def _bindable(host: str, port: int) -> OSError | None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as error:
        return error
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # prometheus_client's server (an http.server) sets SO_REUSEADDR too: a port in TIME_WAIT is free for it.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            return error
    return None


def _scrape_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def probe_prometheus(host: str, port: int, timeout: float) -> Probe:
    """Whether ``host:port`` can be bound; if taken, whether it serves otel-llmperf's metrics."""
    failed = _bindable(host, port)
    if failed is None:
        return Probe("free", "free to bind")
    if failed.errno != errno.EADDRINUSE:
        return Probe("unbindable", f"cannot bind: {failed.strerror or failed}")
    target = _scrape_host(host)
    netloc = f"[{target}]:{port}" if ":" in target else f"{target}:{port}"
    try:
        connection = http.client.HTTPConnection(netloc, timeout=timeout)
        try:
            connection.request("GET", "/metrics", headers={"Accept": "text/plain"})
            response = connection.getresponse()
            body = response.read(1 << 20).decode("utf-8", "replace")
        finally:
            connection.close()
    except Exception as error:
        seen = _failure(error, timeout)
        return Probe("busy", f"in use by something that is not a metrics endpoint ({seen.detail})")
    if response.status != 200 or "# TYPE " not in body:
        return Probe("busy", f"in use by an HTTP server that has no /metrics (HTTP {response.status})", response.status)
    if any(series in body for series in _OUR_SERIES):
        return Probe("ours", "in use, serving otel-llmperf metrics: the application is running", 200)
    return Probe("metrics", "in use, serving Prometheus metrics but none of otel-llmperf's yet", 200)


class Running:
    """Probes started at once, each in a daemon thread; :meth:`results` waits for them up to a deadline."""

    def __init__(self, probes: Mapping[int, Callable[[], Probe]]) -> None:
        self._keys = list(probes)
        self._results: dict[int, Probe] = {}
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._run, args=(key, probe), name=f"otel-llmperf-doctor-{key}", daemon=True)
            for key, probe in probes.items()
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, key: int, probe: Callable[[], Probe]) -> None:
        try:
            result = probe()
        except Exception as error:  # a probe is written not to raise; this is the last guard
            result = Probe("failed", f"{type(error).__name__}: {error}")
        with self._lock:
            self._results[key] = result

    def results(self, deadline: float) -> dict[int, Probe]:
        """Each probe's result; one still running ``deadline`` seconds after the start counts as timed out."""
        end = self._started + deadline
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        with self._lock:
            return {
                key: self._results.get(key, Probe("timeout", f"no answer within {deadline:g} s")) for key in self._keys
            }
