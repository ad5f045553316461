"""Shared test setup. Sockets are limited to loopback by pytest-socket (see pyproject addopts)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = ROOT / "examples"


def _find_specs() -> Path:
    """The published API specs: ../shared/specs beside the checkout (or $POSTMORTEM_SPECS)."""
    import os

    for candidate in (os.environ.get("POSTMORTEM_SPECS"), ROOT.parent / "shared" / "specs", "/work/shared/specs"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise RuntimeError("published API specs not found: set POSTMORTEM_SPECS to the shared/specs folder")


SPECS = _find_specs()


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
