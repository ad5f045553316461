"""Opsgenie (or the same alert in Jira Service Management operations) as a live TimelineSource.

The alert, every log page and every note page, mapped by the same functions as the file reader, so a live
run and a run over saved responses give the same timeline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ops_postmortem.config import Config
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.connectors.opsgenie.api import (
    DEFAULT_URL,
    JSM_URL,
    SERVICE,
    AlertApi,
    JsmOpsApi,
    OpsgenieApi,
    Page,
    alert_of,
)
from ops_postmortem.connectors.opsgenie.connector import (
    AlertKey,
    alert_facts,
    alert_url,
    event_from_log,
    event_from_note,
    merge_notes,
    report_events,
)
from ops_postmortem.errors import ConfigError, ServiceError
from ops_postmortem.model import RawEvidence, SourceBatch, TimelineEvent

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(-\d+)?", re.IGNORECASE)
_TINY = re.compile(r"#?(\d+)")


def alert_key(reference: str) -> AlertKey:
    """How to ask for an alert named on the command line: a UUID is an id, digits a tiny id, else an alias.
    `id:`, `tiny:` or `alias:` in front says it explicitly."""
    text = reference.strip()
    kind, sep, value = text.partition(":")
    if sep and kind in ("id", "tiny", "alias") and value:
        return AlertKey(kind, value)
    if _UUID.fullmatch(text):
        return AlertKey("id", text)
    tiny = _TINY.fullmatch(text)
    return AlertKey("tiny", tiny.group(1)) if tiny else AlertKey("alias", text)


class OpsgenieLive:
    """Reads one alert. `alert` names it when INCIDENT_ID is not its id, tiny id or alias."""

    name = SERVICE

    def __init__(self, api: AlertApi, *, alert: str | None = None, web_url: str | None = None) -> None:
        self.api = api
        self.alert = alert
        self.web_url = web_url

    @classmethod
    def from_config(cls, config: Config, *, alert: str | None = None,
                    retry: RetryPolicy | None = None) -> OpsgenieLive:
        section = config.section("opsgenie")
        key = section.secret("api_key", required=True)
        assert key is not None
        api_kind = section.choice("api", ("opsgenie", "jsm"), "opsgenie")
        web_url = section.string("web_url")
        api: AlertApi
        if api_kind == "jsm":
            cloud_id = section.string("jsm_cloud_id", required=True)
            email = section.string("jsm_email", required=True)
            assert cloud_id is not None and email is not None
            api = JsmOpsApi(email, key.reveal(), cloud_id, base_url=section.string("api_url", JSM_URL) or JSM_URL,
                            retry=retry)
        else:
            for jsm_only in ("jsm_cloud_id", "jsm_email"):
                if jsm_only in section:
                    raise ConfigError(f"{section.where(jsm_only)} is set but [opsgenie] api is not \"jsm\"",
                                      hint='set api = "jsm" to read alerts from Jira Service Management')
            api = OpsgenieApi(key.reveal(), base_url=section.string("api_url", DEFAULT_URL) or DEFAULT_URL,
                              retry=retry)
        return cls(api, alert=alert, web_url=web_url)

    def collect(self, incident_id: str) -> SourceBatch:
        key = alert_key(self.alert or incident_id)
        page = self.api.alert(key.value, key.kind)
        alert = alert_of(page)
        if alert is None:
            raise ServiceError(f"GET {page.path} answered without an alert", service=SERVICE, status=200)
        alert_id = str(alert["id"])
        logs = self.api.logs(alert_id)
        notes = self.api.notes(alert_id)
        raw = [RawEvidence(f"{SERVICE}/alert.json", page.raw)]
        raw += _evidence("logs", logs.pages) + _evidence("notes", notes.pages)

        warnings: list[str] = []
        link = alert_url(self.web_url, alert_id) if self.web_url else None
        log_events = _events(logs.items, "log", link, warnings)
        note_events = _events(notes.items, "note", link, warnings)
        events = merge_notes(log_events, note_events, alert_id=alert_id)
        events += report_events(alert, {e.kind for e in events}, link=link)
        events.sort(key=lambda e: (e.at, e.ident))
        facts = alert_facts(alert, events=events, web_url=self.web_url)
        return SourceBatch(source=SERVICE, events=tuple(events), facts=(facts,), warnings=tuple(warnings),
                           raw=tuple(raw))


def _evidence(what: str, pages: Sequence[Page]) -> list[RawEvidence]:
    return [RawEvidence(f"{SERVICE}/{what}-{n:04d}.json", p.raw) for n, p in enumerate(pages, start=1)]


def _events(items: Sequence[Any], what: str, link: str | None, warnings: list[str]) -> list[TimelineEvent]:
    """Logs or notes as events, each entry once (its offset is unique), unusable ones warned about."""
    convert = event_from_log if what == "log" else event_from_note
    events: list[TimelineEvent] = []
    seen: set[tuple[str, str, str | None]] = set()
    for item in items:
        if not isinstance(item, Mapping):
            continue
        try:
            event = convert(item, link=link)
        except ValueError as exc:
            warnings.append(f"opsgenie: {what} at offset {item.get('offset', '?')} skipped: {exc}")
            continue
        identity = (event.ident, event.text, event.actor)
        if identity not in seen:
            seen.add(identity)
            events.append(event)
    return events
