"""What Grafana Alerting's webhook adds to the Alertmanager shape: its links, its datasource alerts, its marks.

Grafana's notifier is an embedded Alertmanager, so alerts read with `connector.read_alert`; only these differ.
"""

from __future__ import annotations

from collections.abc import Mapping

from ops_postmortem.connectors.alertmanager.connector import alert_name

WEBHOOK_VERSION = "1"
# The most specific view first: the panel that drew the alert, its dashboard, then the rule.
LINK_FIELDS = ("panelURL", "dashboardURL", "generatorURL")

# Alerts Grafana raises itself when a rule's query returns no data or fails; the rule is in `rulename`.
_DATASOURCE_ALERTS = frozenset({"DatasourceNoData", "DatasourceError"})


def grafana_alert_name(labels: Mapping[str, str], fingerprint: str) -> str:
    name = alert_name(labels, fingerprint)
    rule = labels.get("rulename")
    if name in _DATASOURCE_ALERTS and rule:
        return f"{rule} ({name})"
    return name


def is_grafana_payload(payload: Mapping[str, object]) -> bool:
    """Grafana Alerting's webhook carries `orgId`; Alertmanager's never does."""
    return "orgId" in payload


def is_legacy_grafana_payload(payload: Mapping[str, object]) -> bool:
    """Grafana's legacy (pre-9) alert notification: one rule, `ruleId`/`evalMatches`, and no alert times."""
    return "alerts" not in payload and ("evalMatches" in payload or "ruleId" in payload)
