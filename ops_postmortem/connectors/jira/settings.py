"""The `[jira]` section, read and checked once at the edge into typed values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from ops_postmortem.config import Config, SecretRef
from ops_postmortem.errors import ConfigError

Deployment = Literal["cloud", "datacenter"]

# Jira Cloud lives on these hosts (scoped API tokens go through api.atlassian.com/ex/jira/<cloud id>).
_CLOUD_HOSTS = (".atlassian.net", ".jira.com", "api.atlassian.com")
_PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,254}$")


def severity_key(text: str | None) -> str:
    """"SEV-1", "sev 1" and "SEV1" are one severity."""
    return re.sub(r"[^A-Z0-9]", "", (text or "").upper())


@dataclass(frozen=True)
class IssueRule:
    """Where a ticket goes and what it carries, for one severity (or the default)."""

    project: str
    issue_type: str
    extra_fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JiraSettings:
    url: str
    deployment: Deployment
    api_version: int
    default: IssueRule
    username: str | None = None
    priority_map: Mapping[str, str] = field(default_factory=dict)  # doc priority (P1) -> Jira priority name
    by_severity: Mapping[str, IssueRule] = field(default_factory=dict)  # keyed by severity_key()
    incident_link_type: str | None = None  # link each ticket to the incident's own Jira issue
    state_file: Path | None = None

    @property
    def site(self) -> str:
        return self.url.rstrip("/")

    @property
    def cloud(self) -> bool:
        return self.deployment == "cloud"

    @property
    def adf(self) -> bool:
        """Descriptions in Atlassian Document Format (Cloud REST v3), else wiki markup (v2)."""
        return self.api_version == 3

    def rule(self, severity: str | None) -> IssueRule:
        return self.by_severity.get(severity_key(severity), self.default)

    def priority(self, doc_priority: str | None) -> str | None:
        if not doc_priority:
            return None
        return self.priority_map.get(doc_priority.strip().upper())

    def doc_priority(self, jira_priority: str | None) -> str | None:
        """The doc's priority for a Jira priority name, through the map backwards; else Jira's name."""
        if jira_priority is None:
            return None
        for ours, theirs in self.priority_map.items():
            if theirs.casefold() == jira_priority.casefold():
                return ours
        return jira_priority


def auth_fix(settings: JiraSettings) -> str:
    """What to check when Jira refuses the account."""
    if settings.cloud:
        return ("check [jira] username (the account's e-mail) and the API token named by [jira] token, and that "
                "the account has Browse projects and Create issues permissions in the project")
    return "check the personal access token named by [jira] token and the account's project permissions"


def is_cloud_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host.endswith(suffix) or host == suffix.lstrip(".") for suffix in _CLOUD_HOSTS)


def read_settings(config: Config, default_state: Path) -> tuple[JiraSettings, SecretRef]:
    """The settings and the token reference (revealed only when the client is built)."""
    s = config.section("jira")
    url = s.string("url", required=True)
    assert url is not None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{s.where('url')} = {url!r} is not a Jira address",
                          hint='use the site address, e.g. "https://acme.atlassian.net" or "https://jira.acme.test"')
    version = s.integer("api_version")
    cloud = is_cloud_url(url) or version == 3  # only Cloud speaks REST v3
    version = version if version is not None else (3 if cloud else 2)
    if version not in (2, 3):
        raise ConfigError(f"{s.where('api_version')} must be 2 or 3",
                          hint="3 on Jira Cloud (descriptions in Atlassian Document Format), 2 on Data Center")
    username = s.string("username")
    if cloud and not username:
        raise ConfigError(f"{s.where('username')} is required on Jira Cloud",
                          hint="set username to the e-mail address of the account the API token belongs to")
    token = s.secret("token", required=True)
    assert token is not None
    default = IssueRule(
        project=_project(s.string("project", required=True) or "", s.where("project")),
        issue_type=s.string("issue_type", "Task") or "Task",
        extra_fields=_fields(s.table("extra_fields"), s.where("extra_fields")),
    )
    return JiraSettings(
        url=url,
        deployment="cloud" if cloud else "datacenter",
        api_version=version,
        default=default,
        username=username,
        priority_map=_priority_map(s.table("priority_map"), s.where("priority_map")),
        by_severity=_by_severity(s.table("by_severity"), s.where("by_severity"), default),
        incident_link_type=s.string("incident_link_type"),
        state_file=s.path("state_file", config.base_dir) or default_state,
    ), token


def _project(key: str, where: str) -> str:
    if not _PROJECT_KEY.match(key):
        raise ConfigError(f"{where} = {key!r} is not a Jira project key", hint='use the key, e.g. "OPS", not the name')
    return key


def _fields(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    for name in ("project", "issuetype", "summary", "description", "assignee", "labels"):
        if name in table:
            raise ConfigError(f"{where}.{name}: this field is set from the action item",
                              hint="remove it; use project / issue_type for those two")
    return dict(table)


def _priority_map(table: Mapping[str, Any], where: str) -> dict[str, str]:
    mapped: dict[str, str] = {}
    for ours, theirs in table.items():
        if not isinstance(theirs, str) or not theirs.strip():
            raise ConfigError(f"{where}.{ours} must be the name of a Jira priority, e.g. \"High\"")
        mapped[ours.strip().upper()] = theirs.strip()
    return mapped


def _by_severity(table: Mapping[str, Any], where: str, default: IssueRule) -> dict[str, IssueRule]:
    rules: dict[str, IssueRule] = {}
    for severity, value in table.items():
        here = f"{where}.{severity}"
        if not isinstance(value, dict):
            raise ConfigError(f"{here} must be a table", hint='e.g. SEV1 = { project = "INC", issue_type = "Bug" }')
        unknown = set(value) - {"project", "issue_type", "extra_fields"}
        if unknown:
            raise ConfigError(f"{here}: unknown key {min(unknown)!r}", hint="known keys: project, issue_type, extra_fields")
        for key in ("project", "issue_type"):
            if key in value and not isinstance(value[key], str):
                raise ConfigError(f"{here}.{key} must be a string")
        extra = value.get("extra_fields", {})
        if not isinstance(extra, dict):
            raise ConfigError(f"{here}.extra_fields must be a table of Jira field ids to values")
        rules[severity_key(severity)] = IssueRule(
            project=_project(value["project"], f"{here}.project") if "project" in value else default.project,
            issue_type=value.get("issue_type", default.issue_type),
            extra_fields={**default.extra_fields, **_fields(extra, f"{here}.extra_fields")},
        )
    return rules
