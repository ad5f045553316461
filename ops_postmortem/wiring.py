"""The composition root: config and flags in, connectors out. Vendor modules are imported only when used,
so the CLI starts fast and a team without Google never loads its client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ops_postmortem.config import Config
from ops_postmortem.connectors.base import DocumentStore, TimelineSource, WindowedSource
from ops_postmortem.errors import ConfigError, UsageError


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
    elif inputs.slack_channel:
        raise UsageError("--slack-channel needs --slack-export PATH")
    return sources, chats


def document_store(config: Config, kind: str | None = None) -> DocumentStore:
    kind = kind or config.store_kind
    if kind == "local":
        from ops_postmortem.connectors.local.store import LocalStore

        return LocalStore(config.local_dir, template_dir=config.template_dir)
    raise ConfigError(f"store kind {kind!r} is not available in this version", hint="use kind = \"local\"")


def split_people(values: Sequence[str]) -> list[str]:
    """`--reviewer "Ana, Bo"` and repeated flags both work."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]
