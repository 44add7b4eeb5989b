# SPDX-License-Identifier: Apache-2.0
"""The release workflow cannot run here (no GitHub): its shape is checked, and its release check is run
against this tree and against copies of it, so a tag that would be refused is known before pushing it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_llmperf.version import __version__

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
GATE = (".github/release_check.py", "src/otel_llmperf/version.py", "CHANGELOG.md")


def _workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _step(job: str, **match: str) -> dict[str, Any]:
    steps = _workflow()["jobs"][job]["steps"]
    found = [step for step in steps if all(str(step.get(k, "")).startswith(v) for k, v in match.items())]
    assert len(found) == 1, (match, steps)
    return dict(found[0])


def _run_check(root: Path, tag: str) -> subprocess.CompletedProcess[str]:
    """The workflow's own check step, run as the runner would: its shell line, at the root, with the tag."""
    command = _step("build", id="check")["run"]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # `python` is this venv's
    env = {"PATH": path, "GITHUB_REF_NAME": tag, "HOME": str(root)}
    return subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=60)


def _copy(tmp_path: Path, changelog: str | None = None) -> Path:
    for name in GATE:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, tmp_path / name)
    if changelog is not None:
        (tmp_path / "CHANGELOG.md").write_text(changelog, encoding="utf-8")
    return tmp_path


def _changelog(heading: str) -> str:
    """This CHANGELOG with its section for the current version headed ``heading``, whatever it says now."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    pattern = rf"^## \[{re.escape(__version__)}\] - .*$"
    assert re.search(pattern, text, re.M), "CHANGELOG.md has a section for the current version"
    return re.sub(pattern, heading, text, count=1, flags=re.M)


def test_a_version_tag_triggers_it_and_only_publish_gets_an_id_token() -> None:
    workflow = _workflow()
    trigger = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert trigger == {"push": {"tags": ["v*"]}}
    assert workflow["permissions"] == {"contents": "read"}
    build, publish = workflow["jobs"]["build"], workflow["jobs"]["publish"]
    assert "permissions" not in build
    assert publish["needs"] == "build"
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"


def test_it_builds_checks_and_publishes_with_trusted_publishing_only() -> None:
    assert _step("build", uses="actions/setup-python")["with"]["python-version"] == "3.11"
    assert "python -m build" in _step("build", name="Build")["run"]
    assert _step("build", name="Check")["run"] == "python -m twine check --strict dist/*"
    assert _step("build", uses="actions/upload-artifact")["with"]["name"] == "dist"
    assert _step("publish", uses="actions/download-artifact")["with"]["name"] == "dist"
    publish = _step("publish", uses="pypa/gh-action-pypi-publish@")
    assert publish["uses"] == "pypa/gh-action-pypi-publish@release/v1"
    assert not {"password", "user"} & set(publish.get("with", {})), "trusted publishing takes no token"
    # The check runs before anything is built.
    names = [step.get("id") or step.get("name") or step.get("uses") for step in _workflow()["jobs"]["build"]["steps"]]
    assert names.index("check") < names.index("Build the sdist and the wheel")


def test_this_tree_has_a_changelog_section_for_its_version_and_the_tag_matches() -> None:
    # Until release day the only refusal may be the date; a version bump without a section fails here.
    done = _run_check(ROOT, f"v{__version__}")
    problems = [line for line in done.stdout.splitlines() if line.startswith("::error::")]
    undated = f"::error::release check: CHANGELOG.md's section for {__version__} is dated 'unreleased'"
    assert problems == [] or (len(problems) == 1 and problems[0].startswith(undated)), done.stdout + done.stderr
    assert done.returncode == (1 if problems else 0)


def test_a_dated_section_and_the_right_tag_pass(tmp_path: Path) -> None:
    done = _run_check(_copy(tmp_path, _changelog(f"## [{__version__}] - 2026-12-05")), f"v{__version__}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"v{__version__} is src/otel_llmperf/version.py's version" in done.stdout


@pytest.mark.parametrize(
    ("tag", "heading", "said"),
    [
        ("v9.9.9", f"## [{__version__}] - 2026-12-05", f"tag 'v9.9.9' is not v{__version__}"),
        (f"v{__version__}", "## [0.0.1] - 2026-12-05", f"has no section '## [{__version__}] - YYYY-MM-DD'"),
        (f"v{__version__}", f"## [{__version__}] - unreleased", "dated 'unreleased': write the release date"),
        (f"v{__version__}", f"## [{__version__}] - 2026-13-01", "dated '2026-13-01': write the release date"),
        (f"v{__version__}", f"## [{__version__}] - 5 Dec 2026", "dated '5 Dec 2026': write the release date"),
    ],
    ids=["wrong-tag", "no-section", "undated", "bad-date", "not-iso"],
)
def test_a_tag_the_tree_does_not_back_is_refused(tag: str, heading: str, said: str, tmp_path: Path) -> None:
    done = _run_check(_copy(tmp_path, _changelog(heading)), tag)
    assert done.returncode == 1, done.stdout
    assert said in done.stdout
