"""Slack: workspace exports (and, through `connector`, the Web API's message shape) as a timeline source."""

from ops_postmortem.connectors.slack.export import SlackExport

__all__ = ["SlackExport"]
