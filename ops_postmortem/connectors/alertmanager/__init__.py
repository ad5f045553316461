"""Alertmanager and Grafana Alerting: saved webhook notifications mapped to alert events."""

from ops_postmortem.connectors.alertmanager.files import AlertmanagerFiles, GrafanaFiles

__all__ = ["AlertmanagerFiles", "GrafanaFiles"]
