"""Reading saved alert notifications: Alertmanager webhooks (version "4") and Grafana Alerting webhooks.

A file holds one payload, a JSON array of payloads, or one payload per line (.jsonl); an array of bare alerts
(a saved `/api/v2/alerts` response) is read too. Files come in any order and repeat the same alerts: the
`AlertLedger` turns them into one firing and at most one resolved event per alert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops_postmortem.connectors.alertmanager import grafana
from ops_postmortem.connectors.alertmanager.connector import (
    AlertDataError,
    AlertLedger,
    alert_name,
    read_alert,
)
from ops_postmortem.connectors.files import iter_json_files
from ops_postmortem.errors import InputError
from ops_postmortem.model import SourceBatch

_LEGACY_GRAFANA_HINT = (
    "it carries no alert times; save notifications from Grafana Alerting (Grafana 9 or later)"
)


@dataclass(frozen=True)
class _Flavor:
    vendor: str  # for messages
    actor: str
    version: str
    link_fields: tuple[str, ...]
    name_of: Callable[[Mapping[str, str], str], str]
    check: Callable[[Mapping[str, Any], str], None]  # raises InputError for a payload of another kind


@dataclass
class _FileNotes:
    """What one file showed that the reader should know, told once per file rather than per notification."""

    versions: set[str] = field(default_factory=set)
    truncated: list[int] = field(default_factory=list)


@dataclass
class _Reading:
    """One collect() in progress: the ledger, and what the reader should be told."""

    flavor: _Flavor
    ledger: AlertLedger
    warnings: list[str] = field(default_factory=list)
    # alert ident -> warning that its resolution has no usable time; dropped if another notification gives one
    no_end: dict[str, str] = field(default_factory=dict)
    notes: dict[Path, _FileNotes] = field(default_factory=dict)

    def add_payload(self, path: Path, where: str, payload: Mapping[str, Any], *, is_webhook: bool) -> None:
        file_notes = self.notes.setdefault(path, _FileNotes())
        if is_webhook and payload.get("version") != self.flavor.version:
            file_notes.versions.add(repr(payload["version"]) if "version" in payload else "none")
        truncated = payload.get("truncatedAlerts")
        if isinstance(truncated, int) and truncated > 0:
            file_notes.truncated.append(truncated)
        home = payload.get("externalURL")
        for number, alert in enumerate(payload["alerts"], start=1):
            self.add_alert(f"{where} alert {number}", alert, home if isinstance(home, str) else None)

    def add_alert(self, where: str, alert: object, home: str | None) -> None:
        if not isinstance(alert, dict):
            self.warnings.append(f"{where}: not an object; skipped")
            return
        try:
            sighting = read_alert(alert, link_fields=self.flavor.link_fields, home_link=home)
        except AlertDataError as exc:
            self.warnings.append(f"{where}: {exc}; skipped")
            return
        self.ledger.add(sighting)
        if sighting.resolved and sighting.ends_at is None:
            name = self.flavor.name_of(sighting.labels, sighting.fingerprint)
            self.no_end.setdefault(
                sighting.ident,
                f"{where}: {name} is resolved but its endsAt {alert.get('endsAt')!r} is not a time after "
                "startsAt; its resolution is left out",
            )

    def batch(self, paths: Sequence[Path]) -> SourceBatch:
        warnings = list(self.warnings)
        for path, file_notes in self.notes.items():
            warnings.extend(_file_warnings(path, file_notes, self.flavor))
        warnings.extend(text for ident, text in self.no_end.items() if not self.ledger.has_resolution(ident))
        if not len(self.ledger):
            warnings.append(f"no {self.flavor.vendor} alerts in {', '.join(str(p) for p in paths)}")
        return SourceBatch(
            source=self.ledger.source, events=tuple(self.ledger.events()), warnings=tuple(warnings)
        )


def _check_alertmanager(payload: Mapping[str, Any], where: str) -> None:
    if grafana.is_legacy_grafana_payload(payload):
        raise InputError(
            f"{where}: a legacy Grafana alert notification (ruleId, evalMatches)", hint=_LEGACY_GRAFANA_HINT
        )
    if grafana.is_grafana_payload(payload):
        raise InputError(
            f"{where}: a Grafana Alerting notification (it has orgId), not an Alertmanager webhook",
            hint="pass it with --grafana",
        )


def _check_grafana(payload: Mapping[str, Any], where: str) -> None:
    if grafana.is_legacy_grafana_payload(payload):
        raise InputError(
            f"{where}: a legacy Grafana alert notification (ruleId, evalMatches)", hint=_LEGACY_GRAFANA_HINT
        )
    if not grafana.is_grafana_payload(payload) and payload.get("version") == "4":
        raise InputError(
            f'{where}: an Alertmanager webhook (version "4", no orgId), not a Grafana Alerting notification',
            hint="pass it with --alertmanager",
        )


_ALERTMANAGER = _Flavor(
    vendor="Alertmanager",
    actor="Alertmanager",
    version="4",
    link_fields=("generatorURL",),
    name_of=alert_name,
    check=_check_alertmanager,
)
_GRAFANA = _Flavor(
    vendor="Grafana Alerting",
    actor="Grafana",
    version=grafana.WEBHOOK_VERSION,
    link_fields=grafana.LINK_FIELDS,
    name_of=grafana.grafana_alert_name,
    check=_check_grafana,
)


class _WebhookFiles:
    name: str
    _flavor: _Flavor

    def __init__(self, paths: Sequence[Path | str]) -> None:
        self.paths = tuple(Path(p) for p in paths)

    def collect(self, incident_id: str) -> SourceBatch:
        """Every alert in the files; `incident_id` is not used, as the files were picked for the incident."""
        reading = _Reading(
            self._flavor,
            AlertLedger(source=self.name, actor=self._flavor.actor, name_of=self._flavor.name_of),
        )
        for path, where, payload, is_webhook in self._payloads():
            reading.add_payload(path, where, payload, is_webhook=is_webhook)
        return reading.batch(self.paths)

    def _payloads(self) -> Iterator[tuple[Path, str, Mapping[str, Any], bool]]:
        """(file, where, payload, is_webhook) per notification; an array of bare alerts becomes one payload."""
        counts: dict[Path, int] = {}
        for path, document in iter_json_files(self.paths):
            if isinstance(document, list) and document and all(_is_bare_alert(item) for item in document):
                yield path, str(path), {"alerts": document}, False
                continue
            several = isinstance(document, list) or path.suffix.lower() in (".jsonl", ".ndjson")
            for item in document if isinstance(document, list) else [document]:
                counts[path] = counts.get(path, 0) + 1
                where = f"{path} notification {counts[path]}" if several else str(path)
                yield path, where, self._payload(item, where), True

    def _payload(self, item: object, where: str) -> Mapping[str, Any]:
        vendor = self._flavor.vendor
        if not isinstance(item, dict):
            raise InputError(
                f"{where}: a JSON {type(item).__name__}, not a webhook payload from {vendor}",
                hint="give the saved webhook bodies: one object per file, an array of them, or one per line",
            )
        self._flavor.check(item, where)
        if not isinstance(item.get("alerts"), list):
            raise InputError(
                f"{where}: not a webhook payload from {vendor} (no alerts list)",
                hint="give the saved webhook request bodies",
            )
        return item


def _is_bare_alert(item: object) -> bool:
    return isinstance(item, dict) and "alerts" not in item and "startsAt" in item and "labels" in item


def _file_warnings(path: Path, notes: _FileNotes, flavor: _Flavor) -> Iterator[str]:
    for version in sorted(notes.versions):
        shown = "no version" if version == "none" else f"version {version}"
        yield (
            f"{path}: {flavor.vendor} webhook with {shown}, expected {flavor.version!r}; "
            f"read as version {flavor.version} (check the times and links it gives)"
        )
    if notes.truncated:
        yield (
            f"{path}: {len(notes.truncated)} notification(s) left alerts out (truncatedAlerts up to "
            f"{max(notes.truncated)}, the receiver's max_alerts); alerts may be missing from the timeline"
        )


class AlertmanagerFiles(_WebhookFiles):
    """Saved Alertmanager webhook notifications (version "4")."""

    name = "alertmanager"
    _flavor = _ALERTMANAGER


class GrafanaFiles(_WebhookFiles):
    """Saved Grafana Alerting webhook notifications (version "1")."""

    name = "grafana"
    _flavor = _GRAFANA
