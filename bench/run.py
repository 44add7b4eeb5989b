# SPDX-License-Identifier: Apache-2.0
"""Measure the CPU time otel-llmperf adds to OpenAI SDK calls, against a floor and against peers.

One command, run with the development venv's python (the one that has otel-llmperf installed)::

    python bench/run.py            # full run, ~10 minutes; writes bench/results/latest.{json,md}
    python bench/run.py --quick    # smoke run, seconds once the venvs exist; writes quick.{json,md}

Each subject is measured by ``bench/worker.py`` in its own process: ours and the floor with
this interpreter, each peer with the python of its venv under ``bench/.venvs/<name>``, which
is created on first use with the same openai and OpenTelemetry versions as this environment.
Workers run one after the other, never side by side, so they do not compete for the cores.
See bench/README.md for the method.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import coldstart
from subjects import SUBJECTS, SubjectSpec

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENVS = HERE / ".venvs"
RESULTS = HERE / "results"
STREAM_CHUNKS = 50  # bench/common.py; repeated here so the runner needs no SDK import

# Versions copied from this environment into every peer venv, so the SDK under test and the
# OpenTelemetry SDK doing the recording are the same code for every subject.
SHARED = (
    "openai",
    "httpx2",
    "pydantic",
    "anyio",
    "jiter",
    "wrapt",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-instrumentation",
    "opentelemetry-semantic-conventions",
)
CORE = ("openai", "opentelemetry-api", "opentelemetry-sdk")
PIP_TIMEOUT_S = 900
BUDGET_FLOOR_FACTOR = 1.3


# --- environment -----------------------------------------------------------------------------


def installed(name: str) -> str | None:
    """This environment's version of a distribution, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """CPU, cores, kernel, Python and the versions that matter."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "loadavg_start": _loadavg(),
        "versions": {name: installed(name) or "-" for name in (*SHARED, "otel-llmperf")},
    }


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    except OSError:
        return "?"


RSS_CALL_MAP = 1000


def worker_env(extra: dict[str, str]) -> dict[str, str]:
    """This environment minus every OTel/OpenLLMetry setting, so each subject runs on its defaults."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "TRACELOOP_"))}
    env.update(extra)
    env["PYTHONHASHSEED"] = "0"
    return env


@dataclass
class Venv:
    """Where a subject runs, and whether its openai version had to differ from ours."""

    python: Path | None
    label: str  # for reports: "this environment" or bench/.venvs/<name>
    own_openai: bool = False  # True: the peer needed another openai, so ours and the floor run here too
    error: str | None = None


def _pip(python: Path, requirements: list[str], log: Path) -> str | None:
    """Install into a venv; None on success, else the reason (the tail of pip's output)."""
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *requirements]
    try:
        with log.open("a", encoding="utf-8") as out:
            out.write(f"\n$ pip install {' '.join(requirements)}\n")
            out.flush()
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return f"pip did not finish within {PIP_TIMEOUT_S} s"
    if done.returncode == 0:
        return None
    tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-12:]
    return f"pip exited {done.returncode}:\n    " + "\n    ".join(tail)


def _imports(python: Path, module: str) -> str | None:
    """None if the peer's module imports in its venv, else the last line of the error."""
    done = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return None
    return (done.stderr.strip().splitlines() or ["import failed"])[-1]


def ensure_venv(spec: SubjectSpec, recreate: bool, install: bool) -> Venv:
    """The subject's venv, created and filled on first use (or when the wanted versions changed)."""
    if spec.venv is None:
        return Venv(Path(sys.executable), "this environment")
    assert spec.requirement is not None
    path = VENVS / spec.venv
    label = f"bench/.venvs/{spec.venv}"
    python = path / "bin" / "python"
    marker = path / "bench-spec.json"
    pins = [f"{name}=={installed(name)}" for name in SHARED if installed(name)]
    wanted = {"requirement": spec.requirement, "extras": list(spec.extras), "pins": pins}
    if python.exists() and marker.exists() and not recreate:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        if recorded.get("wanted") == wanted:
            return Venv(python, label, own_openai=bool(recorded.get("own_openai")))
    if not install:
        return Venv(None, label, error=f"{label} is missing or stale and --no-install was given")
    # Missing, stale (other versions wanted) or half-built: start from an empty venv, so
    # nothing a previous attempt installed can satisfy a requirement by accident.
    if path.exists():
        shutil.rmtree(path)
    print(f"creating {label} for {spec.requirement} (pip output in {label}/bench-install.log)", file=sys.stderr)
    if not python.exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(path)], capture_output=True, text=True, check=False)
        if made.returncode != 0:
            return Venv(None, label, error=f"python -m venv failed: {made.stderr.strip()[-500:]}")
    log = path / "bench-install.log"
    core = [pin for pin in pins if pin.split("==")[0] in CORE]
    # Without openai's own pin and its HTTP library, for the last resort below.
    others = [pin for pin in pins if pin.split("==")[0] not in ("openai", "httpx2")]
    major = int((installed("openai") or "1").split(".")[0])
    # Same versions as here first; then only the core three. Last resort, for a peer that
    # cannot load on this openai at all: the newest openai of the previous major, with ours
    # installed there too so ours and the floor are measured on that same openai.
    attempts = [
        (pins, False),
        (core, False),
        ([*others, f"openai<{major}", "-e", str(REPO)], True),
    ]
    reasons = []
    for extra, own_openai in attempts:
        reason = _pip(python, [spec.requirement, *spec.extras, *extra], log)
        if reason is None:
            reason = _imports(python, spec.module)
            if reason is not None:
                reason = f"installed, but `import {spec.module}` fails: {reason}"
        if reason is None:
            marker.write_text(json.dumps({"wanted": wanted, "own_openai": own_openai}), encoding="utf-8")
            return Venv(python, label, own_openai=own_openai)
        print(f"  {spec.name}: {reason.splitlines()[0]}", file=sys.stderr)
        reasons.append(reason)
    return Venv(None, label, error=f"could not install {spec.requirement}: {reasons[-1]}")


# --- workers -----------------------------------------------------------------------------------


def run_worker(python: Path, subject: str, arguments: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run bench/worker.py; its JSON report, or {"error": ...}. Progress lines pass through stderr."""
    command = [str(python), str(HERE / "worker.py"), "--subject", subject, *arguments]
    try:
        done = subprocess.run(
            command, cwd=HERE, env=env, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"worker for {subject} did not finish within {timeout:.0f} s"}
    if done.returncode != 0:
        return {"error": f"worker for {subject} exited {done.returncode} (its traceback is above)"}
    try:
        report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"worker for {subject} printed no JSON report"}
    return report


# --- evaluation --------------------------------------------------------------------------------


def added(report: dict[str, Any] | None, scenario: str, key: str = "added_us") -> float | None:
    """A median from a measure report, or None when missing."""
    if not report or "scenarios" not in report or scenario not in report["scenarios"]:
        return None
    return float(report["scenarios"][scenario][key]["median"])


def _spread(report: dict[str, Any] | None, scenario: str) -> float:
    """Half the interquartile range of a subject's added time: how far its median may wander."""
    if not report or scenario not in report.get("scenarios", {}):
        return 0.0
    quartiles = report["scenarios"][scenario]["added_us"]
    return float(quartiles["p75"] - quartiles["p25"]) / 2


def _per_chunk_metrics(report: dict[str, Any] | None) -> bool:
    """Whether a subject records anything for every stream chunk (more records than chunks / 2)."""
    if not report or "stream" not in report.get("scenarios", {}):
        return False
    recorded = report["scenarios"]["stream"]["verification"]["metrics_per_call"].values()
    return any(item["kind"] == "histogram" and item["per_call"] >= STREAM_CHUNKS / 2 for item in recorded)


def evaluate(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The budget: ours within 1.3x the floor's added time, and below every peer's (default settings).

    Verdicts compare medians. Each check also says when the two medians are closer than the
    noise (half the larger IQR), and when a peer does less work per call than ours (records
    nothing per chunk), which makes its stream figure a lower bound rather than a like-for-like
    comparison. A peer that had to run on another openai is compared with ours measured in its venv.
    """
    checks: list[dict[str, Any]] = []

    def check(label: str, scenario: str, mine: Any, theirs: Any, limit: float | None, note: str = "") -> None:
        mine_us, theirs_us = added(mine, scenario), added(theirs, scenario)
        if mine_us is None or theirs_us is None:
            return
        bound = limit * theirs_us if limit is not None else theirs_us
        passed = mine_us <= bound if limit is not None else mine_us < bound
        notes = [note] if note else []
        if abs(mine_us - bound) <= max(_spread(mine, scenario), _spread(theirs, scenario)):
            notes.append("within noise")
        checks.append(
            {
                "check": label,
                "ours_us": round(mine_us, 1),
                "other_us": round(theirs_us, 1),
                "factor": round(mine_us / theirs_us, 2) if theirs_us > 0 else None,
                "pass": passed,
                "note": "; ".join(notes),
            }
        )

    def report_of(key: str) -> dict[str, Any] | None:
        return results.get(key, {}).get("report")

    for suffix in ["", *sorted({key.split("@", 1)[1] for key in results if key.startswith("ours@")})]:
        where = f" (in {suffix})" if suffix else ""
        tail = f"@{suffix}" if suffix else ""
        for scenario in ("sync", "stream", "async"):
            label = f"{scenario}: ours <= {BUDGET_FLOOR_FACTOR} x floor{where}"
            check(label, scenario, report_of("ours" + tail), report_of("floor" + tail), BUDGET_FLOOR_FACTOR)
    for name, entry in results.items():
        spec = SUBJECTS[entry["subject"]]
        if spec.venv is None or not spec.main:
            continue
        ours = report_of(f"ours@{spec.venv}") if entry.get("venv_own_openai") else report_of("ours")
        theirs = entry.get("report")
        for scenario in ("sync", "stream", "async"):
            unit = "per call and per chunk" if scenario == "stream" else "per call"
            note = ""
            if scenario == "stream" and theirs and not _per_chunk_metrics(theirs):
                note = "not like for like: the peer records no per-chunk metric"
            check(f"{scenario}: ours < {name} ({unit})", scenario, ours, theirs, None, note)
    return checks


# --- rendering ---------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ratio(report: dict[str, Any] | None, scenario: str) -> str:
    value = added(report, scenario, "ratio")
    return "n/a" if value is None else f"{value:.3f}"


def records_summary(report: dict[str, Any] | None, scenario: str) -> str:
    """What one call of a scenario produced: spans and metric records, from the worker's check."""
    if not report or scenario not in report.get("scenarios", {}):
        return "n/a"
    check = report["scenarios"][scenario]["verification"]
    parts = [f"{check['spans_per_call']:g} span ({len(check['span_attributes'])} attrs)"]
    for name, item in check["metrics_per_call"].items():
        short = name.removeprefix("gen_ai.client.").removeprefix("gen_ai.").removeprefix("llm.")
        parts.append(
            f"{short} x{item['per_call']:g}" if item["kind"] == "histogram" else f"{short} +{item['per_call']:g}"
        )
    if check["chunks_seen_on"] != check["chunks_seen_off"]:
        parts.append(f"caller saw {check['chunks_seen_on']} of {check['chunks_seen_off']} chunks")
    return ", ".join(parts)


def render(data: dict[str, Any]) -> str:
    """The markdown report: main table, spread, what each subject records, RSS, budget, profile."""
    machine, results = data["machine"], data["subjects"]
    lines = [
        f"# otel-llmperf overhead benchmark{' (quick smoke run: numbers are not meaningful)' if data['quick'] else ''}",
        "",
        f"Run {data['generated']} with `{data['command']}`.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}, "
        f"{machine['implementation']} {machine['python']}; load average {machine['loadavg_start']} at the start, "
        f"{machine.get('loadavg_end', '?')} at the end.",
        "",
        "Versions: "
        + ", ".join(f"{name} {version}" for name, version in machine["versions"].items() if version != "-")
        + ". Every peer venv has the same openai and OpenTelemetry versions unless its row says otherwise.",
        "",
        "Added CPU time per call (median over interleaved pairs of instrumented minus plain batches; ratio is"
        f" instrumented/plain). Stream: {STREAM_CHUNKS} chunks with choices plus a usage chunk; per chunk = per call"
        f" / {STREAM_CHUNKS}.",
        "",
        "| Subject | Version | sync µs/call added | sync ratio | stream µs/call added | µs/chunk added |"
        " async µs/call added | async ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    ordered = sorted(results.items(), key=lambda item: not SUBJECTS[item[1]["subject"]].main)
    for _name, entry in ordered:
        report = entry.get("report")
        spec = SUBJECTS[entry["subject"]]
        label = entry["label"] + ("" if spec.main else " *(variant)*" if spec.venv else " *(reference)*")
        if entry.get("error"):
            lines.append(f"| {label} | - | {entry['error'].splitlines()[0]} | | | | | |")
            continue
        version = report["versions"]["subject"] if report else "?"
        if entry.get("venv_own_openai"):
            version += f" (openai {report['versions']['openai']})"
        lines.append(
            f"| {label} | {version} | {_fmt(added(report, 'sync'))} | {_ratio(report, 'sync')} | "
            f"{_fmt(added(report, 'stream'))} | {_fmt(added(report, 'stream', 'added_per_chunk_us'), 2)} | "
            f"{_fmt(added(report, 'async'))} | {_ratio(report, 'async')} |"
        )
    lines += [
        "",
        "## Spread and baselines",
        "",
        "Per call, µs of thread CPU time. IQR = quartiles over the pairs."
        " Wall = the same difference on the wall clock.",
        "",
        "| Subject | Scenario | plain | instrumented | added (IQR) | ratio (IQR) | added, wall | batch x pairs |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in ordered:
        report = entry.get("report")
        for scenario, item in (report or {}).get("scenarios", {}).items():
            a, r = item["added_us"], item["ratio"]
            lines.append(
                f"| {name} | {scenario} | {item['off_us']['median']:.1f} | {item['on_us']['median']:.1f} | "
                f"{a['median']:.1f} ({a['p25']:.1f}..{a['p75']:.1f}) | "
                f"{r['median']:.3f} ({r['p25']:.3f}..{r['p75']:.3f}) | {item['added_wall_us']['median']:.1f} | "
                f"{item['batch']} x {item['pairs']} |"
            )
    lines += [
        "",
        "## What each subject produced per call (checked before timing)",
        "",
        "| Subject | sync | stream | configuration |",
        "|---|---|---|---|",
    ]
    for name, entry in ordered:
        report = entry.get("report")
        spec = SUBJECTS[entry["subject"]]
        lines.append(
            f"| {name} | {records_summary(report, 'sync')} | {records_summary(report, 'stream')} | {spec.note} |"
        )
    lines += _render_rss(data.get("rss"))
    lines += _render_budget(data.get("budget", []))
    lines += _render_attribution(data.get("attribution"))
    lines += _render_profile(data.get("profile"))
    if data.get("coldstart_text"):
        lines += ["", "#" + data["coldstart_text"]]  # one heading level down
    return "\n".join(lines) + "\n"


def _render_rss(rss: dict[str, Any] | None) -> list[str]:
    if not rss:
        return []
    lines = [
        "",
        "## Memory (ours, RSS)",
        "",
        f"The bounded map of recent calls kept for feedback is set to {RSS_CALL_MAP:,} calls here"
        " (OTEL_PYTHON_LLMPERF_FEEDBACK_MAX_CALLS), so it is full after the first sample; at the default"
        " of 10,000 it grows by about 0.4 KB per call until full, then stays.",
        "",
    ]
    for scenario, item in rss.items():
        if "error" in item:
            lines.append(f"- {scenario}: {item['error']}")
            continue
        samples = ", ".join(f"{kib / 1024:.1f}" for _, kib in item["samples_kib"])
        verdict = "flat" if item["flat"] else "NOT flat"
        lines.append(
            f"- {scenario}: {item['calls']:,} instrumented calls, VmRSS every {item['every']:,}: first "
            f"{item['first_kib'] / 1024:.1f} MiB, last {item['last_kib'] / 1024:.1f} MiB "
            f"({item['growth_kib']:+d} KiB overall, {item['second_half_growth_kib']:+d} KiB over the second half):"
            f" **{verdict}**. Samples (MiB): {samples}"
        )
    return lines


def _render_budget(checks: list[dict[str, Any]]) -> list[str]:
    if not checks:
        return []
    lines = [
        "",
        "## Budget",
        "",
        f"Ours within {BUDGET_FLOOR_FACTOR}x the floor's added time, and below every peer's (default settings),"
        " per call and per chunk. Medians decide; the note says when they are closer than the noise.",
        "",
        "| Check | ours µs | other µs | ours/other | result | note |",
        "|---|---:|---:|---:|---|---|",
    ]
    for check in checks:
        lines.append(
            f"| {check['check']} | {check['ours_us']} | {check['other_us']} | {check['factor']} | "
            f"{'pass' if check['pass'] else '**FAIL**'} | {check.get('note', '')} |"
        )
    return lines


def _render_attribution(attribution: dict[str, Any] | None) -> list[str]:
    if not attribution:
        return []
    if "error" in attribution:
        return ["", "## Attribution", "", f"Not measured: {attribution['error']}"]
    lines = [
        "",
        "## Attribution (no profiler): where ours and the floor spend their time",
        "",
        "Each stage timed alone in a loop over prepared inputs (thread CPU, median of"
        f" {attribution['repeats']} repeats of {attribution['calls']:,}); indented rows are parts of the row above."
        " Isolated stages run with warm caches, so they add up to less than the in-situ figures above.",
        "",
        "| Stage | owner | µs |",
        "|---|---|---:|",
    ]
    for row in attribution["stages"]:
        stage = row["stage"]
        indent = len(stage) - len(stage.lstrip())
        shown = "&nbsp;" * (2 * indent) + stage.strip()
        value = "n/a" if row["us"] is None else f"{row['us']:.2f}"
        note = f" ({row['note']})" if row["note"] else ""
        lines.append(f"| {shown}{note} | {row['owner']} | {value} |")
    return lines


def _render_profile(profile: dict[str, Any] | None) -> list[str]:
    if not profile:
        return []
    lines = [
        "",
        "## Profile (cProfile; absolute µs are inflated by the profiler, compare the columns)",
        "",
        "Self time per SDK call by code owner. `SDK + other` is openai/httpx2/pydantic and the standard library.",
        "",
    ]
    for scenario in ("sync", "stream"):
        columns = [(label, profile.get(f"{label}:{scenario}")) for label in ("plain", "ours", "floor")]
        columns = [(label, item) for label, item in columns if item and "error" not in item]
        if not columns:
            continue
        groups = sorted({group for _, item in columns for group in item["groups_us"]})
        lines += [
            f"### {scenario}",
            "",
            "| Owner | " + " | ".join(f"{label} µs/call" for label, _ in columns) + " |",
            "|---|" + "---:|" * len(columns),
        ]
        for group in groups:
            cells = " | ".join(f"{item['groups_us'].get(group, 0.0):.1f}" for _, item in columns)
            lines.append(f"| {group} | {cells} |")
        lines.append("| **total** | " + " | ".join(f"**{item['total_us']:.1f}**" for _, item in columns) + " |")
        ours = profile.get(f"ours:{scenario}")
        if ours and "functions" in ours:
            lines += [
                "",
                f"Top instrumentation functions under ours ({scenario}), by self time per SDK call:",
                "",
                "| Function | owner | calls/call | self µs | cumulative µs |",
                "|---|---|---:|---:|---:|",
            ]
            for item in ours["functions"][:25]:
                lines.append(
                    f"| `{item['function']}` | {item['group']} | {item['calls_per_call']:g} | {item['self_us']:.2f} | "
                    f"{item['cumulative_us']:.2f} |"
                )
        lines.append("")
    return lines


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Create venvs, run every subject, evaluate, print and write the report."""
    parser = argparse.ArgumentParser(description="otel-llmperf overhead benchmark (see bench/README.md)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds per subject")
    parser.add_argument("--subjects", default=",".join(SUBJECTS), help="comma list from: " + ", ".join(SUBJECTS))
    parser.add_argument("--seconds", type=float, default=12.0, help="target duration of one scenario (full run)")
    parser.add_argument("--pairs", type=int, default=40, help="interleaved pairs per scenario (full run)")
    parser.add_argument("--skip-rss", action="store_true", help="skip the 100k-call memory run")
    parser.add_argument("--skip-profile", action="store_true", help="skip the cProfile and attribution runs")
    parser.add_argument("--skip-coldstart", action="store_true", help="skip the cold-start runs (bench/coldstart.py)")
    parser.add_argument("--no-install", action="store_true", help="skip subjects whose venv is missing")
    parser.add_argument("--recreate-venvs", action="store_true", help="delete and rebuild the peer venvs")
    parser.add_argument("--out", type=Path, default=None, help="results stem (default results/latest or quick)")
    args = parser.parse_args(argv)

    if installed("otel-llmperf") is None or installed("openai") is None:
        print(
            "error: run this with the python of the environment where otel-llmperf and openai are installed "
            "(pip install -e '.[test]' at the repository root)",
            file=sys.stderr,
        )
        return 2
    names = [name.strip() for name in args.subjects.split(",") if name.strip()]
    unknown = [name for name in names if name not in SUBJECTS]
    if unknown:
        print(f"error: unknown subject(s) {', '.join(unknown)}; choose from {', '.join(SUBJECTS)}", file=sys.stderr)
        return 2
    measure_args = ["--quick"] if args.quick else ["--pairs", str(args.pairs), "--seconds", str(args.seconds)]
    timeout = 300.0 if args.quick else 1800.0
    started = time.perf_counter()
    command = " ".join(["python bench/run.py", *(argv if argv is not None else sys.argv[1:])])
    data: dict[str, Any] = {
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "quick": args.quick,
        "machine": machine_info(),
        "subjects": {},
    }
    failures = 0
    own_openai_venvs: list[tuple[SubjectSpec, Venv]] = []
    for name in names:
        spec = SUBJECTS[name]
        venv = ensure_venv(spec, args.recreate_venvs, not args.no_install)
        entry: dict[str, Any] = {"subject": name, "label": spec.label, "venv": venv.label}
        data["subjects"][name] = entry
        if venv.error or venv.python is None:
            entry["error"] = venv.error or "no python"
            print(f"error: {name}: {entry['error']}", file=sys.stderr)
            failures += 1
            continue
        if venv.own_openai:
            entry["venv_own_openai"] = True
            own_openai_venvs.append((spec, venv))
        report = run_worker(venv.python, name, measure_args, worker_env(spec.env), timeout)
        if "error" in report:
            entry["error"] = report["error"]
            failures += 1
        else:
            entry["report"] = report
    # A peer that needed another openai is compared with ours and the floor on that openai.
    for spec, venv in own_openai_venvs:
        assert venv.python is not None
        for base in ("ours", "floor"):
            key = f"{base}@{spec.venv}"
            report = run_worker(venv.python, base, measure_args, worker_env({}), timeout)
            data["subjects"][key] = {
                "subject": base,
                "label": f"{SUBJECTS[base].label} in {venv.label}",
                "venv": venv.label,
                "venv_own_openai": True,
                **({"error": report["error"]} if "error" in report else {"report": report}),
            }

    here = Path(sys.executable)
    env = worker_env({})
    # The feedback call map is bounded (default 10,000 calls); a small one fills early, so what
    # the samples show after that is whether anything else grows.
    rss_env = worker_env({"OTEL_PYTHON_LLMPERF_FEEDBACK_MAX_CALLS": str(RSS_CALL_MAP)})
    if "ours" in names and not args.skip_rss:
        rss_plan = {"sync": (100_000, 10_000), "stream": (10_000, 1_000)}
        if args.quick:
            rss_plan = {"sync": (400, 100), "stream": (40, 10)}
        data["rss"] = {}
        for scenario, (calls, every) in rss_plan.items():
            print(f"  RSS: ours, {scenario}, {calls:,} calls", file=sys.stderr, flush=True)
            report = run_worker(
                here,
                "ours",
                ["--mode", "rss", "--scenarios", scenario, "--calls", str(calls), "--every", str(every)],
                rss_env,
                timeout * 2,
            )
            data["rss"][scenario] = report.get("rss", {}).get(scenario) or {"error": report.get("error", "?")}
    if "ours" in names and not args.skip_profile:
        data["profile"] = {}
        plan = {"sync": 50 if args.quick else 3000, "stream": 5 if args.quick else 300}
        for scenario, calls in plan.items():
            for label, subject, extra in (("plain", "ours", ["--off"]), ("ours", "ours", []), ("floor", "floor", [])):
                arguments = ["--mode", "profile", "--scenarios", scenario, "--calls", str(calls), *extra]
                report = run_worker(here, subject, arguments, env, timeout)
                data["profile"][f"{label}:{scenario}"] = report.get("profile", {}).get(scenario) or {
                    "error": report.get("error", "?")
                }

    if "ours" in names and not args.skip_profile:
        report = run_worker(here, "ours", ["--mode", "attribute", *(["--quick"] if args.quick else [])], env, timeout)
        data["attribution"] = report.get("attribution") or {"error": report.get("error", "?")}

    if not args.skip_coldstart:
        # Cold start beside the per-call figures: import and instrument() in fresh interpreters.
        print("  cold start: import otel_llmperf, instrument()", file=sys.stderr, flush=True)
        coldstart_text, data["coldstart"] = coldstart.measure(runs=3 if args.quick else 15)
        data["coldstart_text"] = coldstart_text

    data["machine"]["loadavg_end"] = _loadavg()
    data["budget"] = evaluate(data["subjects"])
    data["seconds"] = round(time.perf_counter() - started, 1)
    text = render(data)
    print(text)
    stem = args.out or RESULTS / ("quick" if args.quick else "latest")
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(text, encoding="utf-8")
    print(
        f"wrote {stem.with_suffix('.json').name} and {stem.with_suffix('.md').name} in {stem.parent}", file=sys.stderr
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
