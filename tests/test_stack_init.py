# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf stack init``: the shipped stack written as a compose project, checked, and kept in one source."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from otel_llmperf.cli import main
from otel_llmperf.stack_files import packaged_path, shipped_files
from otel_llmperf.version import __version__

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "src" / "otel_llmperf" / "stack"
WHEEL = f"wheels/otel_llmperf-{__version__}-py3-none-any.whl"


def _files(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def _fake_wheel(tmp_path: Path) -> Path:
    wheel = tmp_path / WHEEL.split("/")[1]
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("otel_llmperf/__init__.py", "")
    return wheel


def test_repository_stack_is_the_package_data_byte_for_byte(tmp_path: Path) -> None:
    """One source: docker-compose.yml and grafana/ resolve into the package, and init writes the same bytes."""
    assert (ROOT / "docker-compose.yml").resolve() == STACK / "docker-compose.yml"
    assert (ROOT / "grafana").resolve() == STACK / "grafana"
    assert main(["stack", "init", str(tmp_path / "s"), "--wheel", str(_fake_wheel(tmp_path))]) == 0
    written = _files(tmp_path / "s")
    assert written.pop(WHEEL)  # the one file init adds
    repository = {"docker-compose.yml": (ROOT / "docker-compose.yml").read_bytes()}
    repository.update({f"grafana/{name}": data for name, data in _files(ROOT / "grafana").items()})
    assert written == repository == shipped_files()
    assert "grafana/dashboards/llmperf-overview.json" in written and "grafana/slo.yaml" in written


def test_check_lists_missing_and_changed_files_and_force_restores_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target, wheel = tmp_path / "s", _fake_wheel(tmp_path)
    assert main(["stack", "init", str(target), "--wheel", str(wheel)]) == 0
    assert "docker compose up -d" in capsys.readouterr().out
    assert main(["stack", "init", "--check", str(target)]) == 0
    (target / "grafana" / "slo.yaml").write_text("edited\n")
    (target / "grafana" / "tempo" / "tempo.yaml").unlink()
    capsys.readouterr()
    assert main(["stack", "init", "--check", str(target)]) == 1
    err = capsys.readouterr().err
    assert "changed: grafana/slo.yaml" in err and "missing: grafana/tempo/tempo.yaml" in err
    # A changed file blocks the write: nothing is written, not even the missing file.
    assert main(["stack", "init", str(target)]) == 1
    assert "grafana/slo.yaml" in capsys.readouterr().err
    assert (target / "grafana" / "slo.yaml").read_text() == "edited\n"
    assert not (target / "grafana" / "tempo" / "tempo.yaml").exists()
    assert main(["stack", "init", "--force", str(target)]) == 0
    assert main(["stack", "init", "--check", str(target)]) == 0


def test_user_specs_are_rendered_into_the_rules(tmp_path: Path) -> None:
    spec = packaged_path("grafana/slo.yaml").read_text().replace("chat-duration", "my-chat-duration")
    (tmp_path / "slo.yaml").write_text(spec)
    target = tmp_path / "s"
    assert main(["stack", "init", str(target), "--slo", str(tmp_path / "slo.yaml")]) == 0
    rules = (target / "grafana" / "prometheus" / "rules" / "llmperf-slo.rules.yml").read_text()
    assert "my-chat-duration" in rules
    assert (target / "grafana" / "slo.yaml").read_text() == spec
    # The shipped rules' unit tests would fail on other SLOs: not written.
    assert not (target / "grafana" / "prometheus" / "rules" / "llmperf-slo.rules.test.yml").exists()
    # The shipped spec renders exactly the shipped rules (same header, same paths).
    assert main(["stack", "init", str(tmp_path / "t"), "--slo", str(packaged_path("grafana/slo.yaml"))]) == 0
    assert (tmp_path / "t" / "grafana" / "prometheus" / "rules" / "llmperf-slo.rules.yml").read_bytes() == (
        packaged_path("grafana/prometheus/rules/llmperf-slo.rules.yml").read_bytes()
    )


def test_invalid_spec_and_unwritable_directory_are_errors_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.yaml").write_text("version: 1\nslos: nope\n")
    assert main(["stack", "init", str(tmp_path / "s"), "--slo", str(tmp_path / "bad.yaml")]) == 2
    assert "bad.yaml" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["stack", "init", str(blocker / "s")]) == 2
    assert "file" in capsys.readouterr().err


def test_an_editable_install_says_how_to_make_the_wheel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The test venv's otel-llmperf is editable: everything else is written, and the fix is named."""
    assert main(["stack", "init", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err
    assert "editable install" in err and "pip wheel --no-deps -w" in err and "--wheel" in err
    assert (tmp_path / "s" / "docker-compose.yml").is_file()


def _record_ok(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (record,) = [name for name in archive.namelist() if name.endswith(".dist-info/RECORD")]
        for line in archive.read(record).decode().splitlines():
            name, digest, size = line.rsplit(",", 2)
            if name == record:
                continue
            data = archive.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={expected}" and int(size) == len(data), name


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True, timeout=180, capture_output=True)


def test_init_from_a_wheel_install_repacks_a_wheel_that_installs_again(tmp_path: Path) -> None:
    """Seconds of wall time: pip builds a wheel (hatchling) and installs twice with --no-deps into --target dirs."""
    built = tmp_path / "built"
    _pip("wheel", "--no-deps", "-w", str(built), str(ROOT))
    (original,) = built.glob("otel_llmperf-*.whl")
    _pip("install", "--no-deps", "--no-compile", "--target", str(tmp_path / "site"), str(original))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    run = [sys.executable, "-m", "otel_llmperf.cli", "stack", "init", str(tmp_path / "s")]
    result = subprocess.run(run, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    (repacked,) = (tmp_path / "s" / "wheels").glob("*.whl")
    assert repacked.name == original.name
    with zipfile.ZipFile(original) as a, zipfile.ZipFile(repacked) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())
    _record_ok(repacked)
    _pip("install", "--no-deps", "--no-compile", "--target", str(tmp_path / "again"), str(repacked))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "again")}
    probe = "import otel_llmperf, otel_llmperf.stack_files as s; print(otel_llmperf.__file__, len(s.shipped_files()))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    path, count = result.stdout.split()
    assert Path(path).is_relative_to(tmp_path / "again") and int(count) == len(shipped_files()), result.stderr
    # A second init changes nothing: the re-pack is byte-for-byte reproducible.
    again = subprocess.run([*run[:-1], "--check", run[-1]], capture_output=True, text=True, timeout=60, env=env)
    assert again.returncode == 0, again.stderr
