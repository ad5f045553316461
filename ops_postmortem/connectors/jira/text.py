"""What a ticket description says, whatever the markup: shared by the ADF and wiki-markup writers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ops_postmortem.model import TicketRequest

# Control characters other than tab and newline render as nothing or break Jira's editors.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
POSTMORTEM = "Postmortem"


@dataclass(frozen=True)
class DescriptionLine:
    label: str | None  # ours, shown bold; None for the action itself
    text: str  # untrusted
    link: str | None = None  # shown after the text; a link only when it is a web URL


def clean(text: str) -> str:
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def description_lines(request: TicketRequest) -> list[DescriptionLine]:
    """The action, how we know it is done, its type, and where it came from."""
    lines = [DescriptionLine(None, request.action.strip() or request.title)]
    if request.done_when and request.done_when.strip():
        lines.append(DescriptionLine("Done when", request.done_when.strip()))
    if request.type and request.type.strip():
        lines.append(DescriptionLine("Type", request.type.strip()))
    lines.append(DescriptionLine(POSTMORTEM, "", request.doc_url))
    incident = request.incident_id + (f" ({request.severity})" if request.severity else "")
    lines.append(DescriptionLine("Incident", incident, request.incident_url))
    return lines
