"""The composition root: config and flags in, connectors out. Vendor modules are imported only when used,
so the CLI starts fast and a team without Google never loads its client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ops_postmortem.config import Config, priority_limits
from ops_postmortem.connectors.base import (
    DocumentStore,
    Notifier,
    TicketTracker,
    TimelineSource,
    WindowedSource,
)
from ops_postmortem.errors import ConfigError, UsageError
from ops_postmortem.people import Directory
from ops_postmortem.signoff import SignOffRules
from ops_postmortem.workflows.extract import ExtractSettings
from ops_postmortem.workflows.review import ReviewSettings

if TYPE_CHECKING:
    from ops_postmortem.workflows.remind import RemindSettings

DEFAULT_PRIORITY_LIMITS = {"P0": timedelta(weeks=1), "P1": timedelta(weeks=4), "P2": timedelta(weeks=8)}


@dataclass(frozen=True)
class FileInputs:
    """Exported evidence named on the command line; every flag is repeatable."""

    pagerduty: tuple[Path, ...] = ()
    opsgenie: tuple[Path, ...] = ()
    alertmanager: tuple[Path, ...] = ()
    grafana: tuple[Path, ...] = ()
    events: tuple[Path, ...] = ()
    slack_export: tuple[Path, ...] = ()
    slack_channel: str | None = None
    slack_workspace_url: str | None = None
    timezone: str | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.pagerduty or self.opsgenie or self.alertmanager or self.grafana or self.events or self.slack_export
        )


def file_sources(inputs: FileInputs) -> tuple[list[TimelineSource], list[WindowedSource]]:
    sources: list[TimelineSource] = []
    chats: list[WindowedSource] = []
    if inputs.pagerduty:
        from ops_postmortem.connectors.pagerduty.files import PagerDutyFiles

        sources.append(PagerDutyFiles(inputs.pagerduty))
    if inputs.opsgenie:
        from ops_postmortem.connectors.opsgenie.files import OpsgenieFiles

        sources.append(OpsgenieFiles(inputs.opsgenie))
    if inputs.alertmanager:
        from ops_postmortem.connectors.alertmanager.files import AlertmanagerFiles

        sources.append(AlertmanagerFiles(inputs.alertmanager))
    if inputs.grafana:
        from ops_postmortem.connectors.alertmanager.files import GrafanaFiles

        sources.append(GrafanaFiles(inputs.grafana))
    if inputs.events:
        from ops_postmortem.connectors.events.files import EventsFile

        sources.append(EventsFile(inputs.events, default_tz=inputs.timezone))
    if inputs.slack_export:
        if not inputs.slack_channel:
            raise UsageError("--slack-export needs --slack-channel NAME", hint="name the incident channel")
        from ops_postmortem.connectors.slack.export import SlackExport

        chats.append(SlackExport(inputs.slack_export, inputs.slack_channel, workspace_url=inputs.slack_workspace_url))
    return sources, chats


LIVE_SECTIONS = ("pagerduty", "opsgenie", "alertmanager", "grafana", "slack")


def live_sections(config: Config) -> list[str]:
    """The live sources this config sets up: a section with its connection key (Slack needs its token)."""
    needs = {"pagerduty": "token", "opsgenie": "api_key", "alertmanager": "url", "grafana": "url", "slack": "token"}
    return [name for name in LIVE_SECTIONS if needs[name] in config.section(name)]


def live_sources(
    config: Config,
    *,
    slack_channel: str | None = None,
    pagerduty_incident: str | None = None,
    opsgenie_alert: str | None = None,
) -> tuple[list[TimelineSource], list[WindowedSource]]:
    """Live connectors for the config sections that are present. Paging sources bound the incident; the alert
    APIs and Slack are read over the window they give. Secrets are read here, so a missing one is a config
    error before anything is fetched."""
    sources: list[TimelineSource] = []
    windowed: list[WindowedSource] = []
    present = live_sections(config)
    slack = None
    if "slack" in present:
        from ops_postmortem.connectors.slack.live import SlackLive

        slack = SlackLive.from_config(config, channel=slack_channel)
    if "pagerduty" in present:
        from ops_postmortem.connectors.pagerduty.live import PagerDutyLive

        references = slack.paging_references if slack is not None and not pagerduty_incident else None
        sources.append(PagerDutyLive.from_config(config, incident=pagerduty_incident, references=references))
    if "opsgenie" in present:
        from ops_postmortem.connectors.opsgenie.live import OpsgenieLive

        sources.append(OpsgenieLive.from_config(config, alert=opsgenie_alert))
    if "alertmanager" in present:
        from ops_postmortem.connectors.alertmanager.live import AlertmanagerLive

        windowed.append(AlertmanagerLive.from_config(config))
    if "grafana" in present:
        from ops_postmortem.connectors.alertmanager.live import GrafanaLive

        windowed.append(GrafanaLive.from_config(config))
    if slack is not None:
        windowed.append(slack)
    return sources, windowed


def collection_sources(
    inputs: FileInputs,
    config: Config,
    *,
    live: bool = True,
    pagerduty_incident: str | None = None,
    opsgenie_alert: str | None = None,
) -> tuple[list[TimelineSource], list[WindowedSource]]:
    """Evidence files named by flags plus, unless `live` is off, the live sources of the config."""
    sources, windowed = file_sources(inputs)
    present = live_sections(config) if live else []
    if inputs.slack_channel and not inputs.slack_export and "slack" not in present:
        raise UsageError("--slack-channel needs --slack-export PATH, or [slack] token in the config for the live "
                         "channel")
    if present:
        more, more_windowed = live_sources(
            config,
            slack_channel=None if inputs.slack_export else inputs.slack_channel,
            pagerduty_incident=pagerduty_incident,
            opsgenie_alert=opsgenie_alert,
        )
        if inputs.slack_export:  # the export already gives the channel
            more_windowed = [w for w in more_windowed if w.name != "slack"]
        sources += more
        windowed += more_windowed
    if not sources and not windowed:
        raise UsageError(
            "no evidence given",
            hint="name at least one of --pagerduty, --opsgenie, --alertmanager, --grafana, --slack-export, "
            "--events, or set up [pagerduty], [opsgenie], [alertmanager], [grafana] or [slack] in the config",
        )
    return sources, windowed


def document_store(config: Config, kind: str | None = None) -> DocumentStore:
    kind = kind or config.store_kind
    if kind == "local":
        from ops_postmortem.connectors.local.store import LocalStore

        return LocalStore(config.local_dir, template_dir=config.template_dir)
    if kind == "google":
        from ops_postmortem.connectors.google.settings import google_store

        return google_store(config)
    if kind == "confluence":
        from ops_postmortem.connectors.confluence.settings import ConfluenceSettings
        from ops_postmortem.connectors.confluence.store import ConfluenceStore

        return ConfluenceStore(ConfluenceSettings.from_section(config.section("confluence")),
                               template_dir=config.template_dir, jira_macro=config.tracker_kind == "jira")
    raise ConfigError(f"store kind {kind!r} is not available in this version", hint="use kind = \"local\"")


def directory(config: Config) -> Directory:
    section = config.section("people")
    return Directory.from_config(section.data, section.origin)


def ticket_tracker(config: Config) -> TicketTracker:
    kind = config.tracker_kind
    if kind == "local":
        from ops_postmortem.connectors.local.tracker import LocalTracker

        return LocalTracker(config.local_dir / "tickets.db", directory=directory(config))
    if kind == "jira":
        from ops_postmortem.connectors.jira.tracker import jira_tracker

        return jira_tracker(config, directory(config), sync_state_path(config).parent / ".jira-created.json")
    if kind == "github":
        from ops_postmortem.connectors.github.tracker import github_tracker

        return github_tracker(config.section("github"), directory(config))
    raise ConfigError(f"tracker kind {kind!r} is not available in this version", hint='use kind = "local"')


def signoff_rules(config: Config) -> SignOffRules:
    section = config.section("review")
    return SignOffRules(
        directory(config), section.strings("approval_phrases"), section.strings("rejection_phrases")
    )


def review_settings(config: Config) -> ReviewSettings:
    section = config.section("review")
    by_severity = {}
    for severity, names in section.table("by_severity").items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{section.where('by_severity')}.{severity} must be a list of names or e-mails")
        by_severity[severity.upper()] = tuple(names)
    return ReviewSettings(section.strings("reviewers"), by_severity)


def extract_settings(config: Config) -> ExtractSettings:
    section = config.section("extract")
    limits = priority_limits(section) if "priority_limits" in section else dict(DEFAULT_PRIORITY_LIMITS)
    return ExtractSettings(
        locale=section.string("locale", "en-US") or "en-US",
        priority_limits=limits,
        comment_on_invalid=section.flag("comment_on_invalid", True),
    )


def sync_state_path(config: Config) -> Path:
    path = config.section("sync").path("state_file", config.base_dir)
    return path or config.local_dir / ".sync-state.json"


def notifier(config: Config) -> Notifier | None:
    """Slack when `[slack] token` is set, else None (then `remind` only lists and `publish` only previews)."""
    if "token" not in config.section("slack"):
        return None
    from ops_postmortem.connectors.slack.notifier import SlackNotifier

    return SlackNotifier.from_config(config, directory(config))


def publish_channels(config: Config) -> tuple[str, ...]:
    return config.section("slack").strings("publish_channels")


def remind_settings(config: Config) -> RemindSettings:
    from ops_postmortem.workflows.remind import RemindSettings

    section = config.section("slack")
    days = section.integer("remind_days", 3)
    if days is None or days < 0:
        raise ConfigError(f"{section.where('remind_days')} must be 0 or more days")
    return RemindSettings(days, section.strings("remind_channels"), section.flag("remind_dm_owners"))


def split_people(values: Sequence[str]) -> list[str]:
    """`--reviewer "Ana, Bo"` and repeated flags both work."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]
