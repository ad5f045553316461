"""The `[google]` section of the config, validated into one value, and the store built from it once per run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ops_postmortem.config import Config, Section
from ops_postmortem.errors import ConfigError

if TYPE_CHECKING:
    from ops_postmortem.connectors.google.store import GoogleDocsStore


@dataclass(frozen=True)
class GoogleSettings:
    credentials_file: Path | None = None  # a service-account key or an authorized-user file; None: ADC
    docs_api_endpoint: str = "https://docs.googleapis.com/"
    drive_api_endpoint: str = "https://www.googleapis.com/drive/v3/"
    folder_id: str | None = None  # a folder or a shared drive; None: the account's My Drive
    template_doc_id: str | None = None
    share_with_domain: str | None = None
    share_with: tuple[str, ...] = ()
    subject: str | None = None  # domain-wide delegation: the user the service account acts as

    @classmethod
    def from_section(cls, section: Section, base_dir: Path) -> GoogleSettings:
        docs = _endpoint(section, "docs_api_endpoint", cls.docs_api_endpoint)
        drive = _endpoint(section, "drive_api_endpoint", cls.drive_api_endpoint)
        if not urlsplit(drive).path.rstrip("/").endswith("drive/v3"):
            raise ConfigError(f"{section.where('drive_api_endpoint')} = {drive!r} must end with drive/v3/",
                              hint="the client puts method paths right after it, e.g. https://www.googleapis.com/drive/v3/")
        subject = section.string("subject")
        if subject is not None and "@" not in subject:
            raise ConfigError(f"{section.where('subject')} = {subject!r} is not a user's e-mail address",
                              hint="the Workspace user the service account acts for, e.g. postmortems@acme.com")
        return cls(
            credentials_file=section.path("credentials_file", base_dir),
            docs_api_endpoint=docs,
            drive_api_endpoint=drive,
            folder_id=section.string("folder_id") or None,
            template_doc_id=_doc_id(section, "template_doc_id"),
            share_with_domain=section.string("share_with_domain") or None,
            share_with=section.strings("share_with"),
            subject=subject,
        )


def _endpoint(section: Section, key: str, default: str) -> str:
    value = section.string(key, default) or default
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ConfigError(f"{section.where(key)} = {value!r} is not an address", hint=f"the default is {default}")
    return value if value.endswith("/") else value + "/"


def _doc_id(section: Section, key: str) -> str | None:
    """A doc id, or the URL people share (…/document/d/<id>/edit) reduced to its id."""
    value = section.string(key)
    if not value:
        return None
    parts = value.split("/document/d/")
    return parts[1].split("/")[0] if len(parts) == 2 else value


def google_store(config: Config) -> GoogleDocsStore:
    """Credentials and the Docs and Drive clients, built once for this run."""
    from ops_postmortem.connectors.google.api import GoogleApi
    from ops_postmortem.connectors.google.auth import account_email, load_credentials, scopes
    from ops_postmortem.connectors.google.store import Sharing

    section = config.section("google")
    settings = GoogleSettings.from_section(section, config.base_dir)
    sharing = Sharing.parse(settings.share_with_domain, settings.share_with, section.where("share_with"))
    credentials = load_credentials(settings.credentials_file, scopes(template=settings.template_doc_id is not None),
                                   subject=settings.subject)
    api = GoogleApi(credentials, docs_endpoint=settings.docs_api_endpoint, drive_endpoint=settings.drive_api_endpoint,
                    account=settings.subject or account_email(credentials))
    from ops_postmortem.connectors.google.store import GoogleDocsStore

    return GoogleDocsStore(api, folder_id=settings.folder_id, template_doc_id=settings.template_doc_id,
                           sharing=sharing, template_dir=config.template_dir)
