"""GitHub issue JSON to and from our tickets: the body we write, the marker that makes it ours, statuses.

The body ends in a hidden marker, `<!-- ops-postmortem:item=pmai-... doc=... -->`, which carries the item
key and the postmortem's address; GitHub renders nothing for it, and people rarely touch it.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Final
from urllib.parse import quote, unquote

from ops_postmortem.connectors.github.markdown import issue_markdown, plain_text
from ops_postmortem.escaping import code_span, link_markdown, web_url
from ops_postmortem.model import Ticket, TicketRequest

POSTMORTEM_LABEL: Final = "postmortem"
LABEL_MAX: Final = 50  # GitHub refuses longer label names
OPEN: Final = "Open"
# state_reason of a closed issue -> our status; a closed issue without a reason was closed as completed.
CLOSED_STATUS: Final = {"completed": "Done", "not_planned": "Not planned", "duplicate": "Duplicate"}
LABEL_STYLE: Final = {  # colour and description per kind of label we create
    "postmortem": ("b60205", "An action item from a postmortem (ops-postmortem)"),
    "incident": ("fbca04", "Action items from this incident's postmortem (ops-postmortem)"),
    "item": ("ededed", "Identifies one postmortem action item; keep it so reruns find this issue"),
}

_MARKER: Final = re.compile(r"<!--\s*ops-postmortem:item=(pmai-[0-9a-f]+)(?:\s+doc=(\S+))?\s*-->")
_ITEM_LABEL: Final = re.compile(r"^pmai-[0-9a-f]{6,}$")
_FIELD: Final = re.compile(r"^(Due|Priority): (.*)$", re.MULTILINE)
# Characters a doc address may hold in the marker: never '>' or '!', so it cannot end the HTML comment.
_MARKER_SAFE: Final = ":/?#[]@$&'()*+,;=~"


def label_name(text: str) -> str:
    """A GitHub label: at most 50 characters, no commas (the issues list's `labels=` splits on them)."""
    return text.replace(",", "-").strip()[:LABEL_MAX]


def labels_for(request: TicketRequest) -> list[str]:
    """`postmortem`, the incident and the item key as the workflow shaped them; the item key last, exact."""
    incident = (
        "".join(c if c.isalnum() or c in "-_." else "-" for c in request.incident_id).strip("-").lower()
    )
    names = [label_name(n) for n in (POSTMORTEM_LABEL, *(request.labels or (incident,))) if n.strip()]
    return list(
        dict.fromkeys([n for n in names if n.casefold() != request.item_key.casefold()] + [request.item_key])
    )


def label_kind(name: str) -> str:
    if name == POSTMORTEM_LABEL:
        return "postmortem"
    return "item" if _ITEM_LABEL.match(name) else "incident"


def marker(item_key: str, doc_url: str) -> str:
    return f"<!-- ops-postmortem:item={item_key} doc={quote(doc_url, safe=_MARKER_SAFE)} -->"


def issue_body(request: TicketRequest) -> str:
    """What to do, how we know it is done, and where it came from; untrusted text can link or ping nobody."""
    lines = [issue_markdown(request.action.strip() or request.title), ""]
    if request.done_when:
        lines.append(f"Done when: {issue_markdown(request.done_when)}")
    if request.type:
        lines.append(f"Type: {issue_markdown(request.type)}")
    if request.due:
        lines.append(f"Due: {request.due.isoformat()}")
    if request.priority:
        lines.append(f"Priority: {issue_markdown(request.priority)}")
    lines.append(f"Postmortem: {_address(request.doc_url, 'the postmortem')}")
    incident = f"Incident: {issue_markdown(request.incident_id)}"
    if request.severity:
        incident += f" ({issue_markdown(request.severity)})"
    if request.incident_url:
        incident += f" {_address(request.incident_url, 'incident record')}"
    lines.append(incident)
    lines.extend(["", marker(request.item_key, request.doc_url)])
    return "\n".join(lines)


def _address(url: str, label: str) -> str:
    # A local file:// address opens nothing for a reader on GitHub: shown, never linked.
    return link_markdown(url, label) if web_url(url) else code_span(url)


def milestone_title(due: date) -> str:
    return f"Postmortem actions due {due:%Y-%m}"


def milestone_due_on(due: date) -> str:
    last = calendar.monthrange(due.year, due.month)[1]
    return f"{due.year:04d}-{due.month:02d}-{last:02d}T23:59:59Z"


def status_of(issue: Mapping[str, Any]) -> str:
    if issue.get("state") != "closed":
        return OPEN
    return CLOSED_STATUS.get(str(issue.get("state_reason") or "completed"), "Closed")


def item_key_of(issue: Mapping[str, Any]) -> str | None:
    """The marker's item key; an item-key label stands in when someone edited the marker away."""
    found = _MARKER.search(str(issue.get("body") or ""))
    if found:
        return found.group(1)
    return next((n for n in label_names(issue) if _ITEM_LABEL.match(n)), None)


def label_names(issue: Mapping[str, Any]) -> tuple[str, ...]:
    labels: Iterable[Any] = issue.get("labels") or ()
    return tuple(str(lb.get("name") if isinstance(lb, dict) else lb) for lb in labels)


def is_pull_request(issue: Mapping[str, Any]) -> bool:
    return "pull_request" in issue


def winner(issues: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The one issue for an item key when racing runners opened several: the oldest (lowest number) that
    was not closed as a duplicate. Numbers only grow, so every runner that sees both agrees."""
    kept = [i for i in issues if i.get("state_reason") != "duplicate"] or list(issues)
    return min(kept, key=lambda i: int(i["number"]))


def repo_of(issue: Mapping[str, Any], default: str) -> str:
    """`owner/name` from the issue's repository_url (it differs after a transfer)."""
    url = str(issue.get("repository_url") or "")
    parts = url.rstrip("/").split("/")
    return f"{parts[-2]}/{parts[-1]}" if "/repos/" in url and len(parts) >= 2 else default


def ticket_of(issue: Mapping[str, Any], repo: str) -> Ticket:
    body = str(issue.get("body") or "")
    found = _MARKER.search(body)
    # The fields are the last paragraph before the marker; a line in the action itself never counts.
    block = _MARKER.sub("", body).strip().rsplit("\n\n", 1)[-1]
    fields = {m.group(1): m.group(2).strip() for m in _FIELD.finditer(block)}
    assignees = issue.get("assignees") or ([issue["assignee"]] if issue.get("assignee") else [])
    status = status_of(issue)
    return Ticket(
        key=f"{repo_of(issue, repo)}#{issue['number']}",
        title=str(issue.get("title") or ""),
        status=status,
        url=issue.get("html_url"),
        owner=str(assignees[0]["login"]) if assignees else None,
        due=_date(fields.get("Due")),
        priority=plain_text(fields["Priority"]) if fields.get("Priority") else None,
        labels=label_names(issue),
        item_key=item_key_of(issue),
        doc_url=unquote(found.group(2)) if found and found.group(2) else None,
        description=plain_text(_MARKER.sub("", body)).strip(),
        done=status != OPEN,
    )


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None
