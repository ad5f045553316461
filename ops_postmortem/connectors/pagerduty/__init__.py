"""PagerDuty: incident, log entries and v3 webhooks as timeline evidence."""

from ops_postmortem.connectors.pagerduty.files import PagerDutyFiles

__all__ = ["PagerDutyFiles"]
