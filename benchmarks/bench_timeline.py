"""Time `postmortem timeline` on a large incident: wall time and peak memory of the CLI process.

Run: /work/venv/bin/python benchmarks/bench_timeline.py [--messages 100000] [--log-entries 10000] [--keep]

Generates the input with generate_large.py into a temporary folder (not timed). Then it runs
`python -m ops_postmortem timeline INC-BENCH --pagerduty ... --slack-export ... --slack-channel inc-bench --json`
as a child process, and prints one Markdown table. Peak memory is the child's maximum resident set size
(getrusage RUSAGE_CHILDREN); the generator runs in this process, so it does not count.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generate_large import CHANNEL, generate

_REDACTED = re.compile(r"redacted (\d+) secret")


def peak_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def count_events(path: Path) -> str:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "?"
    events = doc.get("events") if isinstance(doc, dict) else None
    return str(len(events)) if isinstance(events, list) else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=100_000, help="Slack messages in all channels")
    parser.add_argument("--log-entries", type=int, default=10_000, help="PagerDuty log entries")
    parser.add_argument("--seed", type=int, default=2042)
    parser.add_argument("--keep", action="store_true", help="keep the generated files and the CLI output")
    args = parser.parse_args()
    if args.messages < 1 or args.log_entries < 2:
        parser.error("need at least 1 message and 2 log entries (a trigger and a resolve)")

    root = Path(tempfile.mkdtemp(prefix="pm-bench-"))
    try:
        written = generate(root, messages=args.messages, log_entries=args.log_entries, seed=args.seed)
        out = root / "timeline.json"
        command = [
            sys.executable, "-m", "ops_postmortem", "timeline", "INC-BENCH",
            "--pagerduty", str(root / "pagerduty"),
            "--slack-export", str(root / "slack-export"), "--slack-channel", CHANNEL,
            "--json",
        ]
        with out.open("wb") as stdout:
            started = time.perf_counter()
            # cwd is the temp folder so no postmortem.toml from the caller's folder is picked up.
            done = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, cwd=root, check=False)
            seconds = time.perf_counter() - started
        stderr = done.stderr.decode("utf-8", "replace")
        if done.returncode != 0:
            print(f"timeline failed with exit code {done.returncode}:\n{stderr[-2000:]}", file=sys.stderr)
            return 1
        redacted = _REDACTED.search(stderr)

        print("| Slack messages (incident channel) | PD log entries | input MiB | events out | secrets redacted "
              "| seconds | peak MiB |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {written.messages:,} ({written.incident_messages:,}) | {written.log_entries:,} "
              f"| {written.bytes / 2**20:.1f} | {count_events(out)} | {redacted.group(1) if redacted else '?'} "
              f"({written.incident_secrets} planted) | {seconds:.2f} | {peak_mib():.0f} |")
        if args.keep:
            print(f"\nkept {root} (CLI output in {out.name})")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
