# SPDX-License-Identifier: Apache-2.0
"""Instructions per instrumented call, counted by callgrind: a before/after check immune to noise.

Timed figures on a shared 2-core machine move by tens of microseconds from run to run; an
instruction count does not. This runs the real openai SDK on the benchmark's in-process mock
transport under ``valgrind --tool=callgrind`` twice per scenario (after 20 warm-up calls, 0 and
N more calls) and reports (I(N) - I(0)) / N: the whole call, SDK included, so two checkouts of
otel-llmperf measured with the same interpreter and SDKs differ only by otel-llmperf's own work.

    python bench/instructions.py                       # this checkout
    python bench/instructions.py --src ../old/src      # another checkout's src/, same venv
    python bench/instructions.py --plain               # the uninstrumented call, for reference

Needs valgrind (Debian package ``valgrind``); about 5 minutes per scenario on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
WARM_UP = 20


def child(scenario: str, calls: int, instrumented: bool) -> None:
    """The measured process: set up, warm up, then ``calls`` calls of one scenario."""
    import gc

    sys.path.insert(0, str(HERE))
    from common import REQUEST, STREAM_REQUEST, make_clients, make_sinks

    clients, sinks = make_clients(), make_sinks()
    if instrumented:
        import otel_llmperf

        otel_llmperf.instrument(tracer_provider=sinks.tracer_provider, meter_provider=sinks.meter_provider)
    gc.disable()  # a collection landing in one run and not the other would not be the call's cost

    def call() -> None:
        if scenario == "sync":
            clients.sync.chat.completions.create(**REQUEST)
        else:
            for _chunk in clients.stream.chat.completions.create(**STREAM_REQUEST):
                pass

    for _ in range(WARM_UP + calls):
        call()


def count(scenario: str, calls: int, instrumented: bool, src: str | None) -> int:
    """Total instructions of one child process under callgrind."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if src:
        env["PYTHONPATH"] = src
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            scenario,
            str(calls),
            "1" if instrumented else "0",
        ]
        subprocess.run(command, env=env, check=True, capture_output=True)
        match = re.search(r"^summary: (\d+)$", out.read_text(errors="replace"), re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no summary line in the callgrind output of {command}")
        return int(match.group(1))


def main() -> int:
    """Print instructions per call for each scenario."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", help="a checkout's src/ folder to measure instead of the installed otel_llmperf")
    parser.add_argument("--calls", type=int, default=200, help="measured calls per scenario (default 200)")
    parser.add_argument("--plain", action="store_true", help="measure the uninstrumented call")
    parser.add_argument("--scenarios", default="sync,stream", help="comma list from: sync, stream")
    options = parser.parse_args()
    for scenario in options.scenarios.split(","):
        with ThreadPoolExecutor(max_workers=2) as pool:
            low, high = pool.map(
                lambda n: count(scenario, n, not options.plain, options.src),  # noqa: B023 (used at once)
                (0, options.calls),
            )
        per_call = (high - low) / options.calls
        print(f"{scenario:6} {'plain' if options.plain else 'instrumented'}: {per_call:,.0f} instructions per call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
