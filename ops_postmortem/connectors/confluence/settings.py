"""The `[confluence]` section of the config, validated into one value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from ops_postmortem.config import SecretRef, Section
from ops_postmortem.errors import ConfigError

Deployment = Literal["cloud", "datacenter"]


def cloud_host(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host.endswith(".atlassian.net") or host == "api.atlassian.com"


@dataclass(frozen=True)
class ConfluenceSettings:
    url: str  # the site with its context path: https://acme.atlassian.net/wiki, https://wiki.acme.com
    space: str
    token: SecretRef
    deployment: Deployment
    username: str | None = None  # Cloud: the account e-mail; Data Center: only for basic auth instead of a PAT
    parent_id: str | None = None
    template_page_id: str | None = None
    read_groups: tuple[str, ...] = ()
    edit_groups: tuple[str, ...] = ()

    @property
    def cloud(self) -> bool:
        return self.deployment == "cloud"

    @classmethod
    def from_section(cls, section: Section) -> ConfluenceSettings:
        url = (section.string("url", required=True) or "").rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{section.where('url')} = {url!r} is not a site address",
                              hint="e.g. https://acme.atlassian.net/wiki or https://wiki.acme.com")
        default: Deployment = "cloud" if cloud_host(url) else "datacenter"
        deployment = section.choice("deployment", ("cloud", "datacenter"), default)
        token = section.secret("token", required=True)
        assert token is not None
        username = section.string("username")
        if deployment == "cloud" and not username:
            raise ConfigError(f"{section.where('username')} is required for Confluence Cloud",
                              hint="set username to the e-mail of the account the API token belongs to")
        if deployment == "cloud" and cloud_host(url) and not parts.path.startswith("/wiki"):
            url += "/wiki"  # Cloud serves Confluence under /wiki
        space = section.string("space", required=True) or ""
        return cls(
            url=url,
            space=space,
            token=token,
            deployment="cloud" if deployment == "cloud" else "datacenter",
            username=username,
            parent_id=_id(section, "parent_id"),
            template_page_id=_id(section, "template_page_id"),
            read_groups=section.strings("read_groups"),
            edit_groups=section.strings("edit_groups"),
        )


def _id(section: Section, key: str) -> str | None:
    """Page ids are numbers; TOML lets people write them bare or quoted."""
    if key not in section:
        return None
    value = section.data[key]
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise ConfigError(f"{section.where(key)} must be a page id (the number in the page's URL)")
    return str(value).strip()
