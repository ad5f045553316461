"""CLI start-up: wall time of `postmortem --help` and of a local command, median of N runs, as a table.

    python benchmarks/bench_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def measure(argv: list[str], runs: int, cwd: str) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ops_postmortem", *argv], cwd=cwd, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    baseline_cmd = [sys.executable, "-c", "pass"]
    start = time.perf_counter()
    for _ in range(args.runs):
        subprocess.run(baseline_cmd, check=True)
    baseline = (time.perf_counter() - start) / args.runs
    with tempfile.TemporaryDirectory() as cwd:
        rows = [
            ("python -c pass (interpreter alone)", baseline),
            ("postmortem --help", measure(["--help"], args.runs, cwd)),
            ("postmortem tickets list", measure(["tickets", "list"], args.runs, cwd)),
        ]
    print("| command | median seconds |")
    print("|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
