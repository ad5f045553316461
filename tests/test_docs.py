"""The docs are part of the product: the README's commands, the CI script and the example config agree."""

from __future__ import annotations

import re
import tomllib

from ops_postmortem.config import KNOWN_KEYS, load_config
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.DOTALL)
    return [block.strip() for block in blocks[:2]]


def test_readme_has_the_two_commands_first() -> None:
    run, tests = readme_commands()
    assert run.startswith("python -m pip install . && postmortem open INC-2042")
    assert "pytest" in tests and "'.[test]'" in tests


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme_commands()[1] in ci.splitlines()


def test_example_config_loads_and_documents_every_key() -> None:
    path = ROOT / "config.example.toml"
    load_config(str(path))
    text = path.read_text()
    data = tomllib.loads(text)
    for section, keys in KNOWN_KEYS.items():
        assert re.search(rf"^#? ?\[{section}[\].]", text, re.MULTILINE), f"[{section}] is not documented"
        for key in keys:
            assert re.search(rf"^#? ?{key} =", text, re.MULTILINE), f"[{section}] {key} is not documented"
    assert set(data) <= set(KNOWN_KEYS)
