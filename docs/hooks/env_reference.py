# SPDX-License-Identifier: Apache-2.0
"""MkDocs hook: writes the configuration reference from the code's own list of variables.

``docs/configuration.md`` holds a placeholder; at build time it becomes one entry per
``OTEL_PYTHON_LLMPERF_*`` constant of ``otel_llmperf/environment_variables.py`` (with its
docstring) and a table of the standard ``OTEL_*`` variables ``otel_llmperf/config.py`` reads.
Both are parsed with ``ast`` from the source, not imported, so the page shows exactly what the
code declares and the build needs nothing installed but MkDocs.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

PLACEHOLDER = "<!-- configuration-reference -->"
PAGE = "configuration.md"
PACKAGE = Path("src") / "otel_llmperf"
OURS = "OTEL_PYTHON_LLMPERF_"

# Sphinx roles and literals in the docstrings, as Markdown code spans.
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")


def _markdown(docstring: str) -> str:
    """A docstring's text as one Markdown paragraph, without its ``.. envvar::`` line."""
    lines = [line.strip() for line in docstring.strip().splitlines() if not line.strip().startswith(".. envvar::")]
    text = " ".join(line for line in lines if line)
    return _LITERAL.sub(r"`\1`", _ROLE.sub(r"`\1`", text))


def llmperf_variables(source: str) -> list[tuple[str, str]]:
    """Every ``OTEL_PYTHON_LLMPERF_*`` constant of the module source, with the docstring after it."""
    body = ast.parse(source).body
    found: list[tuple[str, str]] = []
    for index, node in enumerate(body):
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        if not name.startswith(OURS):
            continue
        after = body[index + 1] if index + 1 < len(body) else None
        doc = ""
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            doc = after.value.value
        found.append((name, _markdown(doc)))
    return found


def _keywords(tree: ast.Module) -> dict[str, str]:
    # load_settings resolves each setting as source("keyword", VARIABLE): that pairing is the truth.
    pairs: dict[str, str] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "source"
            and len(node.args) == 2
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[1], ast.Name)
            and node.args[0].value
        ):
            pairs[node.args[1].id] = str(node.args[0].value)
    return pairs


def standard_variables(source: str) -> list[tuple[str, str | None]]:
    """The standard ``OTEL_*`` variables config.py names (imported or defined), with their keyword."""
    tree = ast.parse(source)
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            names.update(alias.name for alias in node.names if alias.name.startswith("OTEL_"))
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name) and t.id.startswith("OTEL_"))
    keywords = _keywords(tree)
    return [(name, keywords.get(name)) for name in sorted(names) if not name.startswith(OURS)]


def render(root: Path) -> str:
    """The reference, as Markdown, from the sources under ``root``."""
    ours = llmperf_variables((root / PACKAGE / "environment_variables.py").read_text(encoding="utf-8"))
    standard = standard_variables((root / PACKAGE / "config.py").read_text(encoding="utf-8"))
    out = [
        f"### otel-llmperf's own variables ({len(ours)})",
        "",
        "From the docstrings in `src/otel_llmperf/environment_variables.py`.",
        "",
    ]
    for name, doc in ours:
        out += [f"#### `{name}`", "", doc or "(no description in the code)", ""]
    out += [
        f"### Standard OpenTelemetry variables it reads ({len(standard)})",
        "",
        "Named in `src/otel_llmperf/config.py`. Those with a keyword are otel-llmperf's settings;",
        "the others belong to the SDK and its exporters, and are checked before the SDK reads them",
        "when otel-llmperf builds the providers (a bad value warns and falls back to the default).",
        "",
        "| Variable | Keyword of `instrument()` |",
        "|---|---|",
    ]
    out += [f"| `{name}` | {f'`{keyword}`' if keyword else '—'} |" for name, keyword in standard]
    return "\n".join(out) + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the placeholder of the configuration page with the generated reference."""
    if page.file.src_uri != PAGE:
        return markdown
    if PLACEHOLDER not in markdown:
        # Without this the reference could vanish from the site without failing the build.
        from mkdocs.exceptions import PluginError

        raise PluginError(f"{PAGE} lost its placeholder {PLACEHOLDER}")
    return markdown.replace(PLACEHOLDER, render(Path(config.config_file_path).parent))
