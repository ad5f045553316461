"""The CLI starts fast: vendor clients load only when a command needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("googleapiclient", "google.auth", "atlassian", "slack_sdk", "requests", "rich", "jinja2", "sqlite3",
         "httplib2", "tenacity")


def loaded_after(argv: list[str], cwd: Path) -> set[str]:
    code = (
        "import sys, json\n"
        "from ops_postmortem.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=cwd, env={**os.environ, "POSTMORTEM_CONFIG": ""}).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_help_loads_no_vendor_client(tmp_path: Path) -> None:
    modules = loaded_after(["--help"], tmp_path)
    assert not [m for m in modules for heavy in HEAVY if m == heavy or m.startswith(heavy + ".")]


def test_a_local_command_loads_no_remote_client(tmp_path: Path) -> None:
    modules = loaded_after(["tickets", "list", "--json"], tmp_path)
    for remote in ("googleapiclient", "atlassian", "slack_sdk"):
        assert not any(m == remote or m.startswith(remote + ".") for m in modules), remote
