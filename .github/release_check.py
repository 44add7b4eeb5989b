# SPDX-License-Identifier: Apache-2.0
"""Release gate (.github/workflows/release.yml): the tag names the package version, and CHANGELOG.md
has a dated section for it.

Usage: python .github/release_check.py vX.Y.Z  (exit 0, or 1 with one line per problem)

Until release day the section reads ``## [X.Y.Z] - unreleased``; writing the date there is the last
commit before the tag, so a tag pushed without it is refused.
"""

from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION_FILE = "src/otel_llmperf/version.py"


def package_version(root: Path) -> str:
    """The ``__version__`` that hatch writes into the wheel's metadata."""
    text = (root / VERSION_FILE).read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    if not match:
        raise SystemExit(f"release check: no __version__ line in {VERSION_FILE}")
    return match.group(1)


def _is_date(text: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:  # 2026-13-01
        return False
    return True


def problems(tag: str, root: Path) -> list[str]:
    """Why ``tag`` may not be released from ``root``; empty when it may."""
    version = package_version(root)
    found: list[str] = []
    if tag != f"v{version}":
        found.append(f"tag {tag!r} is not v{version}, the version in {VERSION_FILE}")
    changelog = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    heading = re.search(rf"^## \[{re.escape(version)}\] - (.*)$", changelog, re.M)
    if heading is None:
        found.append(f"CHANGELOG.md has no section '## [{version}] - YYYY-MM-DD'")
        return found
    date = heading.group(1).strip()
    if not _is_date(date):
        found.append(f"CHANGELOG.md's section for {version} is dated {date!r}: write the release date (YYYY-MM-DD)")
    return found


def main(argv: list[str]) -> int:
    """Print each problem as a GitHub error annotation; exit 1 when there is one."""
    if len(argv) != 1:
        print("usage: python .github/release_check.py vX.Y.Z", file=sys.stderr)
        return 2
    found = problems(argv[0], ROOT)
    for problem in found:
        print(f"::error::release check: {problem}")
    if not found:
        print(f"release check: {argv[0]} is {VERSION_FILE}'s version and CHANGELOG.md dates its section")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
