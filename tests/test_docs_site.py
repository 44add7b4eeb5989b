# SPDX-License-Identifier: Apache-2.0
"""The documentation site builds in strict mode, holds every page, and its references cannot drift.

The builds are subprocesses of MkDocs (about 2 s each on the 2-core test machine): one build of
the real tree shared by the module, and one of a copy with a broken link.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import otel_llmperf.environment_variables as environment_variables

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
# The pages the project's conventions name; every one is in the nav.
PAGES = {
    "index.md",
    "getting-started.md",
    "providers.md",
    "metrics.md",
    "trust-signals.md",
    "experiments.md",
    "drift.md",
    "stack.md",
    "reports.md",
    "scaling-out.md",
    "configuration.md",
    "privacy.md",
    "performance.md",
    "troubleshooting.md",
    "contributing.md",
}
README_LIMIT = 12 * 1024
BUILD_TIMEOUT = 120


class _AnyTagLoader(yaml.SafeLoader):
    """Reads mkdocs.yml, whose ``!relative`` tags only MkDocs resolves."""


_AnyTagLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def _build_command() -> list[str]:
    """The README's build command, run with this interpreter's MkDocs."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- run by: tests/test_docs_site\.py -->\s*```sh\n(.*?)\n```", text, re.S)
    assert match, "the README shows the command that builds the site"
    words = match.group(1).split()
    assert words[:2] == ["mkdocs", "build"] and "--strict" in words, words
    return [sys.executable, "-m", "mkdocs", *words[1:]]


def _build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_build_command(), "--site-dir", str(site)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )


@pytest.fixture(name="site", scope="module")
def fixture_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built from this tree, in strict mode (a subprocess of about 2 s)."""
    site = tmp_path_factory.mktemp("site")
    result = _build(ROOT, site)
    assert result.returncode == 0, result.stdout + result.stderr
    return site


def _built(site: Path, page: str) -> Path:
    return site / "index.html" if page == "index.md" else site / page.removesuffix(".md") / "index.html"


def test_strict_build_has_every_page_of_the_nav(site: Path) -> None:
    """Every conventional page is in the nav, every docs page is reachable, and each was built."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_AnyTagLoader)
    nav = _nav_pages(config["nav"])
    assert set(nav) == PAGES
    assert {path.name for path in DOCS.glob("*.md")} == PAGES
    for page in nav:
        assert _built(site, page).is_file(), page
    # The hook is build machinery, not a page.
    assert not list(site.rglob("env_reference.py"))


def test_contributing_page_includes_the_top_level_file(site: Path) -> None:
    """docs/contributing.md shows CONTRIBUTING.md itself, so the two cannot differ."""
    first = next(
        line.lstrip("# ").strip() for line in (ROOT / "CONTRIBUTING.md").read_text().splitlines() if line.strip()
    )
    assert first in _built(site, "contributing.md").read_text(encoding="utf-8")


def test_configuration_reference_is_generated_from_the_code(site: Path) -> None:
    """Every variable the code declares has its entry, with its docstring, on the built page."""
    html = _built(site, "configuration.md").read_text(encoding="utf-8")
    ours = [name for name in dir(environment_variables) if name.startswith("OTEL_PYTHON_LLMPERF_")]
    assert len(ours) >= 20
    for name in ours:
        assert re.search(rf'<h4 id="{name.lower()}"><code>{name}</code>', html), name
    # A phrase of one docstring, so the entries carry the code's text and not just the names.
    assert "hides that extra chunk from the caller" in html
    # The standard variables config.py reads, with a keyword where instrument() takes one.
    assert re.search(r"<code>OTEL_BSP_MAX_QUEUE_SIZE</code></td>\s*<td>—</td>", html)
    assert re.search(r"<code>OTEL_SERVICE_NAME</code></td>\s*<td><code>service_name</code></td>", html)
    assert "configuration-reference" not in html  # the placeholder was replaced


def test_configuration_summary_table_names_every_variable() -> None:
    """The hand-written table at the top of the page cannot silently miss a new variable."""
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    glance = text.split("## At a glance", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(OTEL_PYTHON_LLMPERF_\w+)`", glance, re.M))
    assert listed == {name for name in dir(environment_variables) if name.startswith("OTEL_PYTHON_LLMPERF_")}


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    """Strict mode is what makes CI catch a page that links nowhere (a second build, about 2 s)."""
    for name in ("mkdocs.yml", "CONTRIBUTING.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(DOCS, tmp_path / "docs")
    package = tmp_path / "src" / "otel_llmperf"
    package.mkdir(parents=True)
    for name in ("environment_variables.py", "config.py"):
        shutil.copy(ROOT / "src" / "otel_llmperf" / name, package / name)
    page = tmp_path / "docs" / "getting-started.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nSee [the lost page](lost-page.md).\n", encoding="utf-8")
    result = _build(tmp_path, tmp_path / "site")
    assert result.returncode != 0
    assert "lost-page.md" in result.stdout + result.stderr


def test_readme_is_short_and_links_into_the_docs() -> None:
    """The README is the newcomer's page: under 12 KB, every link into docs/ resolving."""
    size = README.stat().st_size
    assert size < README_LIMIT, f"README.md is {size} bytes"
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?:docs/)?[\w./-]+\.(?:md|png))(?:#[\w-]+)?\)", text)
    assert {t for t in targets if t.startswith("docs/") and t.endswith(".md")} >= {f"docs/{p}" for p in PAGES} - {
        "docs/index.md",
        "docs/contributing.md",
    }
    for target in targets:
        assert (ROOT / target).is_file(), target
    assert "docs/report-ab.png" in targets


def test_no_install_line_points_at_pypi() -> None:
    """otel-llmperf is not on PyPI yet: every install line installs from a checkout or a built wheel."""
    for path in [README, *DOCS.glob("*.md")]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not re.search(r"pip install\s[^\n]*(?<![./\w])otel-llmperf\b", line), f"{path.name}:{number}"
