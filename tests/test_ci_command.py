# SPDX-License-Identifier: Apache-2.0
"""The test command: CI runs the README's, it installs every binary the tests run, and CI never skips one.

``.ci/install-binaries`` runs here with a PATH holding only fakes: an ``apt-get`` that logs its
arguments and "installs" the binaries the Debian packages hold, and empty stand-ins for the
binaries a scenario has.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import stack

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / ".ci" / "install-binaries"
# What the Debian packages put in /usr/bin (`dpkg -c` of bookworm's prometheus and prometheus-alertmanager).
CONTENTS = {"prometheus": ("prometheus", "promtool"), "prometheus-alertmanager": ("prometheus-alertmanager", "amtool")}

FAKE_APT = """#!{python}
import pathlib, sys
bin_dir = pathlib.Path(sys.argv[0]).parent
with open(bin_dir.parent / "apt.log", "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
contents = {contents!r}
if {fails!r}:
    sys.exit(100)
if sys.argv[1] == "install":
    for package in sys.argv[2:]:
        for name in contents.get(package, ()):
            (bin_dir / name).write_text("")
            (bin_dir / name).chmod(0o755)
"""


def _readme_command() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"\*\*Run the whole test suite\*\*.*?```sh\n(.*?)\n```", readme, re.S)
    assert match, "the README has a test command"
    (line,) = match.group(1).splitlines()
    return line


def _contributing_command() -> str:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    match = re.search(r"\*\*The test command\*\*.*?```sh\n(.*?)\n```", text, re.S)
    assert match, "CONTRIBUTING.md has a test command"
    (line,) = match.group(1).splitlines()
    return line


def _binaries_tests_run() -> set[str]:
    """Every name passed to stack.binary() by a test module."""
    names: set[str] = set()
    for path in Path(__file__).parent.glob("*.py"):
        names |= set(re.findall(r"\bbinary\(\s*\"([a-z-]+)\"", path.read_text(encoding="utf-8")))
    return names


def test_ci_runs_exactly_the_readme_command_and_forbids_skipping() -> None:
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and line[0] != "#"]
    assert lines[-1] == _readme_command()
    assert f"export {stack.REQUIRE}=1" in lines
    assert _readme_command().startswith("sh .ci/install-binaries && ")


def test_contributing_gives_the_same_test_command() -> None:
    assert _contributing_command() == _readme_command()


def test_every_binary_tests_run_has_a_package() -> None:
    used = _binaries_tests_run()
    assert {"prometheus", "promtool", "alertmanager", "amtool"} <= used
    assert used <= set(stack.PACKAGES), "a binary without a Debian package in stack.PACKAGES"
    for name in used:
        installed = CONTENTS[stack.PACKAGES[name]]
        assert any(candidate in installed for candidate in stack.NAMES.get(name, (name,))), name


@pytest.mark.parametrize("name", sorted(stack.PACKAGES))
def test_a_missing_binary_fails_in_ci_and_skips_elsewhere(name: str, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(stack.REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception, match=f"{name} is not installed.*{stack.REQUIRE}=1"):
        stack.binary(name)
    monkeypatch.delenv(stack.REQUIRE)
    with pytest.raises(pytest.skip.Exception, match=f"apt-get install {stack.PACKAGES[name]}"):
        stack.binary(name)


def _run_install(tmp_path: Path, present: set[str], *, apt_fails: bool = False) -> tuple[list[str], set[str], str]:
    """Run .ci/install-binaries with ``present`` on PATH; the apt-get calls, the binaries after, stderr."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in present:
        (bin_dir / name).write_text("")
        (bin_dir / name).chmod(0o755)
    apt = bin_dir / "apt-get"
    apt.write_text(FAKE_APT.format(python=sys.executable, contents=CONTENTS, fails=apt_fails))
    apt.chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    done = subprocess.run(["/bin/sh", str(INSTALL)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    log = tmp_path / "apt.log"
    calls = log.read_text().splitlines() if log.exists() else []
    return calls, {p.name for p in bin_dir.iterdir() if os.access(p, os.X_OK)} - {"apt-get"}, done.stderr


DEBIAN = {"prometheus", "promtool", "prometheus-alertmanager", "amtool"}


def test_nothing_is_installed_when_every_binary_is_there(tmp_path: Path) -> None:
    assert _run_install(tmp_path, DEBIAN)[0] == []


def test_upstream_alertmanager_name_counts(tmp_path: Path) -> None:
    assert _run_install(tmp_path, {"prometheus", "promtool", "alertmanager", "amtool"})[0] == []


@pytest.mark.parametrize("missing", sorted(DEBIAN))
def test_each_missing_binary_installs_its_own_package_only(missing: str, tmp_path: Path) -> None:
    calls, after, _ = _run_install(tmp_path, DEBIAN - {missing})
    package = next(package for package, names in CONTENTS.items() if missing in names)
    assert calls == ["update -qq", f"install -y -qq --no-install-recommends {package}"]
    assert missing in after


def test_everything_missing_is_one_update_and_one_install(tmp_path: Path) -> None:
    calls, after, _ = _run_install(tmp_path, set())
    assert calls == ["update -qq", "install -y -qq --no-install-recommends prometheus prometheus-alertmanager"]
    assert after >= DEBIAN
    for name in _binaries_tests_run():
        assert any(candidate in after for candidate in stack.NAMES.get(name, (name,))), name


def test_a_failed_install_is_said_and_the_command_goes_on(tmp_path: Path) -> None:
    calls, after, stderr = _run_install(tmp_path, {"prometheus", "promtool"}, apt_fails=True)
    assert calls == ["update -qq"]
    assert "could not install prometheus-alertmanager" in stderr
    assert after == {"prometheus", "promtool"}
