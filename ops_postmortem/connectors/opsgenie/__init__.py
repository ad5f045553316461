"""Opsgenie: an alert, its logs and notes as timeline evidence (a legacy source: support ends April 2027)."""

from ops_postmortem.connectors.opsgenie.files import OpsgenieFiles

__all__ = ["OpsgenieFiles"]
