"""Shared test setup. Sockets are limited to loopback by pytest-socket (see pyproject addopts)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = ROOT / "examples"
SPECS = ROOT.parent / "shared" / "specs"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
