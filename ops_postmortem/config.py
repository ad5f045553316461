"""Configuration: a TOML file read with tomllib, validated at the edge into typed values.

Secrets are never literal strings in the file: a secret key takes `{ env = "NAME" }` and is read from the
environment only when used. Unknown keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from ops_postmortem.errors import ConfigError
from ops_postmortem.timeutil import parse_duration

DEFAULT_FILE = "postmortem.toml"
ENV_VAR = "POSTMORTEM_CONFIG"

# Every key the tool knows, by section. Each connector's settings read their section through `Section`.
KNOWN_KEYS: dict[str, frozenset[str]] = {
    "store": frozenset({"kind"}),
    "google": frozenset({"credentials_file", "docs_api_endpoint", "drive_api_endpoint", "folder_id", "template_doc_id",
                         "share_with_domain", "share_with", "subject"}),
    "confluence": frozenset({"url", "username", "token", "space", "parent_id", "template_page_id", "deployment",
                             "read_groups", "edit_groups"}),
    "local": frozenset({"dir"}),
    "templates": frozenset({"dir"}),
    "timeline": frozenset(
        {"timezone", "mitigation_patterns", "window_before", "window_after", "collapse_window"}
    ),
    "tracker": frozenset({"kind"}),
    "review": frozenset({"reviewers", "by_severity", "approval_phrases", "rejection_phrases"}),
    "extract": frozenset({"locale", "priority_limits", "comment_on_invalid"}),
    "sync": frozenset({"state_file"}),
    "jira": frozenset({"url", "username", "token", "project", "api_version", "issue_type", "priority_map",
                       "by_severity", "extra_fields", "incident_link_type", "state_file"}),
    "people": frozenset(),  # any display name; each entry is checked by people.Directory
    "pagerduty": frozenset({"token", "api_url"}),
    "opsgenie": frozenset({"api_key", "api_url", "api", "jsm_cloud_id", "jsm_email", "web_url"}),
    "alertmanager": frozenset({"url", "filter", "token"}),
    "grafana": frozenset({"url", "token"}),
    "slack": frozenset({"workspace_url", "token", "channel_pattern", "api_url", "publish_channels",
                        "remind_channels", "remind_days", "remind_dm_owners"}),
    "github": frozenset({"repo", "token", "api_url", "milestone_per_due_month", "write_interval"}),
}


@dataclass(frozen=True)
class SecretRef:
    """A pointer to a secret in the environment; its value is read only at the point of use."""

    env: str
    where: str

    def reveal(self) -> str:
        value = os.environ.get(self.env)
        if not value:
            raise ConfigError(f"{self.where}: environment variable {self.env} is not set", hint=f"export {self.env}")
        return value

    def __repr__(self) -> str:
        return f"SecretRef(env={self.env!r})"


class Section:
    """Typed, error-reporting access to one `[table]` of the config file."""

    def __init__(self, name: str, data: Mapping[str, Any], origin: str) -> None:
        self.name = name
        self.data = data
        self.origin = origin

    def where(self, key: str) -> str:
        return f"{self.origin} [{self.name}] {key}"

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, kinds: type | tuple[type, ...], what: str, required: bool) -> Any:
        if key not in self.data:
            if required:
                raise ConfigError(f"{self.where(key)} is required", hint=f"set {key} in [{self.name}]")
            return None
        value = self.data[key]
        if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
            raise ConfigError(f"{self.where(key)} must be {what}, not a boolean")
        if not isinstance(value, kinds):
            raise ConfigError(f"{self.where(key)} must be {what}, got {type(value).__name__}")
        return value

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self._get(key, str, "a string", required)
        return default if value is None else value

    def choice(self, key: str, options: tuple[str, ...], default: str) -> str:
        value = self.string(key, default)
        assert value is not None
        if value not in options:
            raise ConfigError(f"{self.where(key)} = {value!r} is not one of {', '.join(options)}")
        return value

    def integer(self, key: str, default: int | None = None, *, required: bool = False) -> int | None:
        value = self._get(key, int, "an integer", required)
        return default if value is None else value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._get(key, bool, "true or false", False)
        return default if value is None else bool(value)

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._get(key, (list, str), "a list of strings", False)
        if value is None:
            return default
        items = [value] if isinstance(value, str) else value
        if not all(isinstance(item, str) for item in items):
            raise ConfigError(f"{self.where(key)} must be a list of strings")
        return tuple(items)

    def table(self, key: str) -> Mapping[str, Any]:
        value = self._get(key, dict, "a table", False)
        return value or {}

    def duration(self, key: str, default: str) -> timedelta:
        text = self.string(key, default)
        assert text is not None
        try:
            return parse_duration(text)
        except ValueError as exc:
            raise ConfigError(f"{self.where(key)}: {exc}") from exc

    def path(self, key: str, base: Path, default: str | None = None) -> Path | None:
        text = self.string(key, default)
        if text is None:
            return None
        path = Path(os.path.expanduser(text))
        return path if path.is_absolute() else base / path

    def secret(self, key: str, *, required: bool = False) -> SecretRef | None:
        if key not in self.data:
            if required:
                raise ConfigError(
                    f"{self.where(key)} is required", hint=f'set {key} = {{ env = "VARIABLE_NAME" }}'
                )
            return None
        value = self.data[key]
        if isinstance(value, dict) and set(value) == {"env"} and isinstance(value["env"], str):
            return SecretRef(value["env"], self.where(key))
        raise ConfigError(
            f"{self.where(key)} must be a reference such as {{ env = \"NAME\" }}; secrets never go in the file"
        )


@dataclass(frozen=True)
class TimelineSettings:
    timezone: str | None = None  # for hand-written times without a zone
    mitigation_patterns: tuple[str, ...] = ()
    window_before: timedelta = timedelta(hours=2)
    window_after: timedelta = timedelta(hours=6)
    collapse_window: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class Config:
    path: Path | None
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        """Relative paths in the file are relative to the file's folder (so cron can run from anywhere)."""
        return self.path.parent if self.path else Path.cwd()

    def section(self, name: str) -> Section:
        origin = str(self.path) if self.path else "config"
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{origin}: [{name}] must be a table")
        return Section(name, value, origin)

    @property
    def store_kind(self) -> str:
        return self.section("store").choice("kind", ("local", "google", "confluence"), "local")

    @property
    def tracker_kind(self) -> str:
        return self.section("tracker").choice("kind", ("local", "jira", "github"), "local")

    @property
    def local_dir(self) -> Path:
        path = self.section("local").path("dir", self.base_dir, "postmortems")
        assert path is not None
        return path

    @property
    def template_dir(self) -> Path | None:
        return self.section("templates").path("dir", self.base_dir)

    @property
    def timeline(self) -> TimelineSettings:
        s = self.section("timeline")
        patterns = s.strings("mitigation_patterns")
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"{s.where('mitigation_patterns')}: bad regular expression {pattern!r}: {exc}")
        return TimelineSettings(
            timezone=s.string("timezone"),
            mitigation_patterns=patterns,
            window_before=s.duration("window_before", "2h"),
            window_after=s.duration("window_after", "6h"),
            collapse_window=s.duration("collapse_window", "10m"),
        )


def find_config_file(explicit: str | None) -> Path | None:
    """--config PATH, else ./postmortem.toml, else $POSTMORTEM_CONFIG, else none."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found", hint="fix --config or drop it")
        return path
    local = Path(DEFAULT_FILE)
    if local.is_file():
        return local
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"{path}: config file named by ${ENV_VAR} not found")
        return path
    return None


def load_config(explicit: str | None = None) -> Config:
    path = find_config_file(explicit)
    if path is None:
        return Config(None, {})
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}", hint="fix the syntax at that line") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    validate_keys(data, str(path))
    return Config(path.resolve(), data)


def validate_keys(data: Mapping[str, Any], origin: str) -> None:
    for name, value in data.items():
        if name not in KNOWN_KEYS:
            known = ", ".join(sorted(KNOWN_KEYS))
            raise ConfigError(f"{origin}: unknown section [{name}]", hint=f"known sections: {known}")
        if not isinstance(value, dict):
            raise ConfigError(f"{origin}: [{name}] must be a table")
        for key in value:
            if name != "people" and key not in KNOWN_KEYS[name]:
                known = ", ".join(sorted(KNOWN_KEYS[name]))
                raise ConfigError(f"{origin}: unknown key {key!r} in [{name}]", hint=f"known keys: {known}")


def priority_limits(section: Section, key: str = "priority_limits") -> dict[str, timedelta]:
    """`{ P0 = "1w", P1 = "4w" }` -> {"P0": 7 days, ...}."""
    limits: dict[str, timedelta] = {}
    for priority, text in section.table(key).items():
        if not isinstance(text, str):
            raise ConfigError(f"{section.where(key)}.{priority} must be a duration such as \"4w\"")
        try:
            limits[priority.strip().upper()] = parse_duration(text)
        except ValueError as exc:
            raise ConfigError(f"{section.where(key)}.{priority}: {exc}") from exc
    return limits
