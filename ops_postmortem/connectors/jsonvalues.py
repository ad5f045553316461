"""Reading values out of vendor JSON that may be missing, null or the wrong type, without raising."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ops_postmortem.timeutil import parse_time


def obj(value: Any) -> Mapping[str, Any]:
    """The mapping, or an empty one."""
    return value if isinstance(value, Mapping) else {}


def objs(value: Any) -> list[Mapping[str, Any]]:
    """The mappings in a list (other items dropped), or an empty list."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def text(value: Any) -> str | None:
    """A stripped non-empty string; numbers as text (ids and numbers come as either); else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        stripped = str(value).strip()
        return stripped or None
    return None


def time(value: Any, what: str) -> datetime:
    """An ISO-8601 time with a zone, or a ValueError naming `what` is missing or bad."""
    raw = text(value)
    if raw is None:
        raise ValueError(f"no {what}")
    try:
        return parse_time(raw)
    except ValueError as exc:
        raise ValueError(f"bad {what}: {exc}") from exc
