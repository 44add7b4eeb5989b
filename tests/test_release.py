# SPDX-License-Identifier: Apache-2.0
"""The release artefacts: the sdist and wheel build, pass ``twine check``, hold what the package reads at
run time, the sdist rebuilds the same wheel, and the wheel installed with ``[demo]`` into a fresh venv runs
the demo, ``stack init`` and ``slo render --check`` from there.

Needs seconds: one build of both (16 s on an idle machine) and one ``pip install`` into a fresh venv (80 s;
pip reaches the package index, so a network failure fails these tests). Built once per session
(tests/release_build.py), shared by both xdist workers.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.request
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from otel_llmperf.version import __version__
from release_build import ROOT, Release, Step, clean_env, shared_release

# A pip install of six SDKs into an empty venv on a busy two-core machine: well beyond the default 120 s.
pytestmark = [pytest.mark.release, pytest.mark.timeout(600)]

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
DIST_INFO = f"otel_llmperf-{__version__}.dist-info"
INSTRUMENTORS = {"openai", "anthropic", "google_genai", "bedrock", "mistral", "cohere"}
STACK_FILES = (
    "docker-compose.yml",
    "grafana/slo.yaml",
    "grafana/drift.yaml",
    "grafana/otelcol/config.yaml",
    "grafana/prometheus/prometheus.yml",
    "grafana/prometheus/rules/llmperf-slo.rules.yml",
    "grafana/prometheus/rules/llmperf-drift.rules.yml",
    "grafana/prometheus/rules/llmperf-experiments.rules.yml",
    "grafana/alertmanager/alertmanager.yml",
    "grafana/tempo/tempo.yaml",
    "grafana/provisioning/datasources/datasources.yaml",
    "grafana/provisioning/dashboards/llmperf.yaml",
    "grafana/dashboards/llmperf-overview.json",
)
PORT_LINE = re.compile(r"metrics → prometheus \(http://127\.0\.0\.1:(\d+)/metrics\)")


@pytest.fixture(name="release", scope="module")
def fixture_release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    basetemp = tmp_path_factory.getbasetemp()
    # Under xdist each worker's basetemp sits in the session's own directory, which both workers share.
    return shared_release(basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp)


def _said(step: Step) -> str:
    return step.output[-4000:]


@pytest.fixture(name="venv")
def fixture_venv(release: Release) -> Path:
    assert release.venv.ok, _said(release.venv)
    assert release.install.ok, f"pip install '<wheel>[demo]' failed:\n{_said(release.install)}"
    return release.python.parent


def _read(archive: Path, name: str) -> bytes:
    with zipfile.ZipFile(archive) as wheel:
        return wheel.read(name)


def _metadata(release: Release) -> Message:
    return Parser().parsestr(_read(release.only("direct", "*.whl"), f"{DIST_INFO}/METADATA").decode("utf-8"))


def _names(archive: Path) -> set[str]:
    with zipfile.ZipFile(archive) as wheel:
        return set(wheel.namelist())


def test_twine_check_strict_passes_on_the_sdist_and_the_wheel(release: Release) -> None:
    assert release.build_sdist.ok, _said(release.build_sdist)
    assert release.build_wheel.ok, _said(release.build_wheel)
    dists = [release.only("sdist", "*.tar.gz"), release.only("direct", "*.whl"), release.only("sdist", "*.whl")]
    assert [path.name for path in dists] == [
        f"otel_llmperf-{__version__}.tar.gz",
        f"otel_llmperf-{__version__}-py3-none-any.whl",
        f"otel_llmperf-{__version__}-py3-none-any.whl",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 3, done.stdout


def test_the_wheel_holds_types_prices_and_the_stack(release: Release) -> None:
    assert release.build_wheel.ok, _said(release.build_wheel)
    names = _names(release.only("direct", "*.whl"))
    # pricing.py reads prices.json through importlib.resources; genai-prices brings its own data.
    assert {"otel_llmperf/py.typed", "otel_llmperf/prices.json"} <= names
    assert json.loads(_read(release.only("direct", "*.whl"), "otel_llmperf/prices.json"))
    stack = {name.removeprefix("otel_llmperf/stack/") for name in names if name.startswith("otel_llmperf/stack/")}
    assert set(STACK_FILES) <= stack, sorted(set(STACK_FILES) - stack)
    dashboards = {name for name in stack if re.fullmatch(r"grafana/dashboards/[^/]+\.json", name)}
    assert len(dashboards) >= 5, dashboards
    # Every subpackage ships: the demo's fake server, the report, doctor, providers.
    for package in ("demo", "report", "doctor", "providers"):
        assert f"otel_llmperf/{package}/__init__.py" in names, package
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert f"{DIST_INFO}/licenses/LICENSE" in names  # Apache-2.0 asks that the text travel with the code


def test_the_sdist_holds_the_sources_the_license_and_the_tests(release: Release) -> None:
    assert release.build_sdist.ok, _said(release.build_sdist)
    with tarfile.open(release.only("sdist", "*.tar.gz")) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for name in ("pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", "PKG-INFO", "src/otel_llmperf/py.typed"):
        assert name in names, name
    assert "tests/conftest.py" in names  # downstream packagers run the suite from the sdist


def test_the_wheel_declares_every_entry_point(release: Release) -> None:
    assert release.build_wheel.ok, _said(release.build_wheel)
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # entry point names are case-sensitive
    parser.read_string(_read(release.only("direct", "*.whl"), f"{DIST_INFO}/entry_points.txt").decode("utf-8"))
    assert dict(parser["console_scripts"]) == {"otel-llmperf": "otel_llmperf.cli:main"}
    instrumentors = dict(parser["opentelemetry_instrumentor"])
    assert set(instrumentors) == {f"llmperf_{name}" for name in INSTRUMENTORS}
    assert all(target.startswith("otel_llmperf.instrumentor:") for target in instrumentors.values())
    assert dict(parser["otel_llmperf_redactors"]) == {"basic": "otel_llmperf.privacy:basic_redactor"}
    assert dict(parser["opentelemetry_environment_variables"]) == {"llmperf": "otel_llmperf.environment_variables"}


def test_the_sdist_builds_the_same_wheel(release: Release) -> None:
    assert release.build_sdist.ok, _said(release.build_sdist)
    assert release.build_wheel.ok, _said(release.build_wheel)
    direct, rebuilt = release.only("direct", "*.whl"), release.only("sdist", "*.whl")
    names = _names(direct)
    assert names == _names(rebuilt), sorted(names ^ _names(rebuilt))
    record = f"{DIST_INFO}/RECORD"  # lists hashes and sizes only; the files it lists are compared directly
    differ = [name for name in sorted(names - {record}) if _read(direct, name) != _read(rebuilt, name)]
    assert differ == []


def _requirements(lines: list[str]) -> set[tuple[str, str, str]]:
    parsed = [Requirement(line) for line in lines]
    return {(canonicalize_name(r.name), str(r.specifier), str(r.marker or "")) for r in parsed}


def test_the_metadata_matches_pyproject(release: Release) -> None:
    assert release.build_wheel.ok, _said(release.build_wheel)
    metadata = _metadata(release)
    project = PYPROJECT["project"]
    assert metadata["Name"] == "otel-llmperf"
    assert metadata["Version"] == __version__
    assert metadata["Requires-Python"] == project["requires-python"]
    assert metadata["License-Expression"] == project["license"]
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["Description-Content-Type"] == "text/markdown"
    extras = {canonicalize_name(name) for name in project["optional-dependencies"]}
    assert set(metadata.get_all("Provides-Extra") or []) == extras
    assert {"demo", "report"} <= extras
    requires = metadata.get_all("Requires-Dist") or []
    assert _requirements([r for r in requires if ";" not in r]) == _requirements(project["dependencies"])
    demo = _requirements([r.split(";")[0] for r in requires if "extra == 'demo'" in r])
    assert demo == _requirements(project["optional-dependencies"]["demo"])


PROBE = """
import importlib.metadata as md, importlib.resources as res, json, otel_llmperf
print(json.dumps({
    "file": otel_llmperf.__file__,
    "version": md.version("otel-llmperf"),
    "typed": res.files("otel_llmperf").joinpath("py.typed").is_file(),
    "instrumentors": sorted(e.name for e in md.entry_points(group="opentelemetry_instrumentor")),
    "redactors": sorted(e.name for e in md.entry_points(group="otel_llmperf_redactors")),
    "instrument": callable(otel_llmperf.instrument),
}))
"""


def test_the_installed_wheel_imports_from_the_venv(venv: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(venv / "python"), "-c", PROBE], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert Path(found["file"]).is_relative_to(venv.parent), found["file"]  # not this checkout's sources
    assert found["version"] == __version__
    assert found["typed"] is True
    assert {f"llmperf_{name}" for name in INSTRUMENTORS} <= set(found["instrumentors"])
    assert found["redactors"] == ["basic"]
    assert found["instrument"] is True


def _wait_for(pattern: re.Pattern[str], log: Path, process: subprocess.Popen[bytes], timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = pattern.search(log.read_text(encoding="utf-8", errors="replace"))
        if match or process.poll() is not None:
            break
        time.sleep(0.2)
    text = log.read_text(encoding="utf-8", errors="replace")
    match = pattern.search(text)
    assert match, f"{pattern.pattern!r} not seen in {timeout:g} s:\n{text[-4000:]}"
    return match


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        assert response.status == 200
        return str(response.read().decode("utf-8"))


def test_the_installed_demo_runs_serves_metrics_and_stops(venv: Path, tmp_path: Path) -> None:
    log = tmp_path / "demo.out"
    command = [str(venv / "otel-llmperf"), "demo", "--duration", "6", "--rps", "20", "--metrics-port", "0"]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=tmp_path, env=clean_env(), stdout=sink, stderr=subprocess.STDOUT)
    try:
        # The first run imports (and byte-compiles) six SDKs: tens of seconds on a busy machine.
        port = int(_wait_for(PORT_LINE, log, process, timeout=120).group(1))
        # The endpoint answers from the banner on; whether calls reach it is test_demo.py's subject.
        metrics = _scrape(port)
        returncode = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    output = log.read_text(encoding="utf-8", errors="replace")
    assert returncode == 0, output
    assert "# TYPE " in metrics, metrics[:2000]
    sent = re.search(r"sent (\d+) requests, \d+ ended in an \(injected\) error; stopped cleanly", output)
    assert sent and int(sent.group(1)) > 0, output
    assert re.search(r"^openai\s+gpt-4o-mini\s+[1-9]\d*\s", output, re.M), output


def _cli(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "otel-llmperf"), *args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=120
    )


def test_the_installed_stack_init_writes_a_current_stack(venv: Path, release: Release, tmp_path: Path) -> None:
    stack = tmp_path / "stack"
    done = _cli(venv, tmp_path, "stack", "init", str(stack))
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(release.only("direct", "*.whl")) as wheel:
        for name in STACK_FILES:
            assert (stack / name).read_bytes() == wheel.read(f"otel_llmperf/stack/{name}"), name
    assert len(list((stack / "grafana" / "dashboards").glob("*.json"))) >= 5
    checked = _cli(venv, tmp_path, "stack", "init", "--check", str(stack))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # From inside the directory, as its "Next:" lines say: rule headers name the spec by its relative path.
    for kind in ("slo", "drift"):
        rules = f"grafana/prometheus/rules/llmperf-{kind}.rules.yml"
        rendered = _cli(venv, stack, kind, "render", f"grafana/{kind}.yaml", "-o", rules, "--check")
        assert rendered.returncode == 0, rendered.stdout + rendered.stderr
