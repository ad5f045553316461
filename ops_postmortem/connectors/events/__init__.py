"""Hand-written events: CSV or JSON rows for what no system recorded."""

from ops_postmortem.connectors.events.files import EventsFile

__all__ = ["EventsFile"]
