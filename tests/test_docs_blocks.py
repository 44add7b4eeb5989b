# SPDX-License-Identifier: Apache-2.0
"""Every command and Python block of the README and docs/ is run by a test or says why it is not.

The convention: a fenced block in ``sh``, ``bash``, ``console``, ``shell`` or ``python`` is
preceded (blank lines allowed) by one of

    <!-- not run: <why> -->
    <!-- run by: tests/<file>.py -->     that file reads this page and runs the block
    <!-- example: <name> -->             a test looks the block up by that name

The blocks marked ``run by: tests/test_docs_blocks.py`` are run here, as a user would: Python
snippets and commands in subprocesses (about 1-3 s each) against the fake LLM server, with
console exporters so what was recorded is printed and checked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakeserver import FakeServerProcess, server_env

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
CHECKED = {"sh", "bash", "console", "shell", "python"}
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
MARKER = re.compile(r"^\s*<!--\s*(not run|run by|example):\s*(.*?)\s*-->\s*$")
THIS = "tests/test_docs_blocks.py"
RUN_TIMEOUT = 60


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: str  # path relative to the repository root
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    marker: tuple[str, str] | None  # (kind, argument) of the comment above it


def blocks(text: str, page: str) -> list[Block]:
    """The fenced blocks of a Markdown text, each with the marker comment above it, if any."""
    lines = text.splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence, language = opening.groups()
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = "\n".join(line.removeprefix(indent) for line in lines[index + 1 : end])
        above = index - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        marker = MARKER.match(lines[above]) if above >= 0 else None
        found.append(
            Block(page, index + 1, language.lower(), body, (marker.group(1), marker.group(2)) if marker else None)
        )
        index = end + 1
    return found


def _page_blocks() -> list[Block]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [block for path in pages for block in blocks(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]


def problems(found: list[Block], tests_dir: Path) -> list[str]:
    """``page:line: why`` for every checked block whose marker is missing or does not hold."""
    sources = {path.name: path.read_text(encoding="utf-8") for path in tests_dir.glob("*.py")}
    wrong: list[str] = []
    for block in found:
        if block.language not in CHECKED:
            continue
        where = f"{block.page}:{block.line}"
        if block.marker is None:
            wrong.append(f"{where}: {block.language} block without a <!-- not run/run by/example --> comment")
            continue
        kind, argument = block.marker
        if kind == "not run" and not argument:
            wrong.append(f"{where}: 'not run' gives no reason")
        elif kind == "run by":
            match = re.fullmatch(r"tests/(\w+\.py)", argument)
            if not match or match.group(1) not in sources:
                wrong.append(f"{where}: 'run by: {argument}' is not a test file")
            elif Path(block.page).name not in sources[match.group(1)]:
                wrong.append(f"{where}: {argument} never names {Path(block.page).name}")
        elif kind == "example":
            name = argument.split()[0] if argument else ""
            if not name or not any(name in source for source in sources.values()):
                wrong.append(f"{where}: no test looks up example {name!r}")
    return wrong


def test_every_command_and_python_block_is_run_or_says_why_not() -> None:
    """README.md and docs/*.md: no checked block without a marker that holds."""
    wrong = problems(_page_blocks(), TESTS)
    assert not wrong, "\n".join(wrong)


def test_the_checker_finds_unmarked_and_false_markers(tmp_path: Path) -> None:
    """The rule itself: each way a marker can fail is reported with page and line."""
    (tmp_path / "test_real.py").write_text("# reads guide.md and runs its block named real-name\n")
    text = "\n".join(
        [
            "```sh",  # line 1: no marker
            "ls",
            "```",
            "<!-- not run:  -->",
            "```python",  # line 5: no reason
            "```",
            "<!-- run by: tests/test_gone.py -->",
            "```bash",  # line 8: no such test
            "```",
            "<!-- example: other-name -->",
            "",
            "```console",  # line 12: no test names it
            "```",
            "<!-- run by: tests/test_real.py -->",
            "  ```sh",  # line 15: fine (indented, in a list)
            "  ```",
            "```yaml",  # line 17: not checked
            "```",
            "<!-- example: real-name -->",
            "```python",  # line 20: fine
            "```",
        ]
    )
    wrong = problems(blocks(text, "guide.md"), tmp_path)
    assert [line.split(":")[1] for line in wrong] == ["1", "5", "8", "12"]
    (tmp_path / "test_real.py").write_text("# names no page\n")
    assert "guide.md:15: tests/test_real.py never names guide.md" in problems(blocks(text, "guide.md"), tmp_path)


# --- running the blocks marked "run by: tests/test_docs_blocks.py" ----------------------------------


def _ours() -> list[Block]:
    seen: set[str] = set()
    ours = []
    for block in _page_blocks():
        # The README repeats a command of getting-started.md: run each text once.
        if block.marker == ("run by", THIS) and block.text not in seen:
            seen.add(block.text)
            ours.append(block)
    return ours


def _example(name: str) -> str:
    for block in _page_blocks():
        if block.marker and block.marker[0] == "example" and block.marker[1].split()[0] == name:
            return block.text
    raise AssertionError(f"no block named {name}")


def _env(fake_server: FakeServerProcess) -> dict[str, str]:
    env = {key: value for key, value in server_env().items() if not key.startswith(("OTEL_", "OPENAI_"))}
    env.update(
        OPENAI_BASE_URL=fake_server.base_url,
        OPENAI_API_KEY="docs-key",
        # Printed at exit, so the test sees what was recorded without a backend.
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="console",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    return env


def _venv_here(directory: Path) -> None:
    """``.venv`` in ``directory`` is the venv running the tests, as in a user's project."""
    assert sys.prefix != sys.base_prefix, "the test command runs in a venv (.venv); this test needs one"
    (directory / ".venv").symlink_to(sys.prefix, target_is_directory=True)


def _assert_call_recorded(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tok1" in result.stdout  # the fake server's answer, printed by the snippet
    assert '"name": "chat gpt-4o-mini"' in result.stdout  # the span, from the console exporter
    assert '"name": "gen_ai.client.operation.duration"' in result.stdout  # and the metric


@pytest.mark.parametrize("block", _ours(), ids=lambda block: f"{block.page}:{block.line}")
def test_block_runs(block: Block, fake_server: FakeServerProcess, tmp_path: Path) -> None:
    """Each block marked as run here does what its page says."""
    env = _env(fake_server)
    if block.language == "python":
        (tmp_path / "app.py").write_text(block.text, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "app.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
        _assert_call_recorded(result)
        return
    assert block.language == "sh", block
    command = block.text
    if "app.py" in command:
        # Zero-code: the program imports no otel-llmperf; the launcher must turn it on.
        (tmp_path / "app.py").write_text(_example("zero-code-app"), encoding="utf-8")
        assert "otel_llmperf" not in (tmp_path / "app.py").read_text()
        _venv_here(tmp_path)
        result = subprocess.run(
            ["sh", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
        _assert_call_recorded(result)
    elif command.startswith("otel-llmperf doctor"):
        env["OTEL_METRICS_EXPORTER"] = "prometheus"
        env["OTEL_EXPORTER_PROMETHEUS_PORT"] = "0"
        result = subprocess.run(
            ["sh", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
        assert result.returncode in (0, 1), result.stdout + result.stderr
        if "--json" in command:
            report = json.loads(result.stdout)
            assert report["schema"] == 1 and report["exit_code"] == result.returncode
            assert {finding["section"] for finding in report["findings"]} >= {"sdk", "export", "prometheus"}
        else:
            assert "doctor: what instrument() would do" in result.stdout
    else:
        raise AssertionError(f"{block.page}:{block.line}: no way to run {command!r}")


def test_the_runnable_blocks_are_the_ones_the_pages_promise() -> None:
    """The run above covers the README quickstart, getting-started and the doctor commands."""
    pages = {(block.page, block.language) for block in _ours()}
    assert {
        ("README.md", "python"),
        ("docs/getting-started.md", "python"),
        ("docs/getting-started.md", "sh"),
        ("docs/troubleshooting.md", "sh"),
    } <= pages
