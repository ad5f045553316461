"""Action items to Jira issue payloads, Jira issues back to Tickets, and Jira's refusals to row messages."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from ops_postmortem.connectors.jira import adf, wiki
from ops_postmortem.connectors.jira.api import JiraError
from ops_postmortem.connectors.jira.settings import JiraSettings, auth_fix
from ops_postmortem.connectors.jira.text import POSTMORTEM
from ops_postmortem.model import UTC, Ticket, TicketRequest
from ops_postmortem.timeutil import parse_time

LABEL = "postmortem"
FIELDS = ("summary", "status", "assignee", "duedate", "priority", "labels", "description", "updated")
# The shape of actions.item_key(): the label that ties a ticket to its row.
ITEM_LABEL = re.compile(r"^pmai-[0-9a-f]{12}$")
ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]*-[1-9][0-9]*$")
SUMMARY_LIMIT = 255


def jql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def labels_for(request: TicketRequest) -> list[str]:
    """`postmortem`, the incident and the item key; Jira labels cannot hold whitespace."""
    wanted = (LABEL, *(request.labels or (request.incident_id,)), request.item_key)
    return list(dict.fromkeys(re.sub(r"\s+", "-", label.strip())[:255] for label in wanted if label.strip()))


def summary(title: str) -> str:
    """One line of at most 255 characters, as Jira requires."""
    line = " ".join(title.split())
    return line if len(line) <= SUMMARY_LIMIT else line[:SUMMARY_LIMIT - 1] + "…"


def issue_update(request: TicketRequest, settings: JiraSettings, assignee: str | None) -> dict[str, Any]:
    rule = settings.rule(request.severity)
    fields: dict[str, Any] = {
        **rule.extra_fields,
        "project": {"key": rule.project},
        "issuetype": {"name": rule.issue_type},
        "summary": summary(request.title),
        "description": adf.describe(request) if settings.adf else wiki.describe(request),
        "labels": labels_for(request),
    }
    if assignee:
        fields["assignee"] = {"accountId": assignee} if settings.cloud else {"name": assignee}
    if request.due:
        fields["duedate"] = request.due.isoformat()
    priority = settings.priority(request.priority)
    if priority:
        fields["priority"] = {"name": priority}
    update: dict[str, Any] = {"fields": fields}
    incident = request.incident_id.strip().upper()
    if settings.incident_link_type and ISSUE_KEY.match(incident):
        update["update"] = {"issuelinks": [{"add": {"type": {"name": settings.incident_link_type},
                                                     "outwardIssue": {"key": incident}}}]}
    return update


def to_ticket(issue: dict[str, Any], settings: JiraSettings) -> Ticket:
    fields = issue.get("fields") or {}
    key = str(issue.get("key", ""))
    status = fields.get("status") or {}
    description = fields.get("description")
    if isinstance(description, dict):
        text, doc_url = adf.plain_text(description), adf.labelled(description, POSTMORTEM)
    elif isinstance(description, str):
        text, doc_url = wiki.plain_text(description), wiki.labelled(description, POSTMORTEM)
    else:
        text, doc_url = "", None
    labels = tuple(str(label) for label in fields.get("labels") or ())
    assignee = fields.get("assignee") or {}
    due = fields.get("duedate")
    return Ticket(
        key=key,
        title=str(fields.get("summary") or ""),
        status=str(status.get("name") or ""),
        url=f"{settings.site}/browse/{key}",
        owner=assignee.get("accountId") or assignee.get("name"),
        due=date.fromisoformat(due) if isinstance(due, str) and due else None,
        priority=settings.doc_priority((fields.get("priority") or {}).get("name")),
        labels=labels,
        item_key=next((label for label in labels if ITEM_LABEL.match(label)), None),
        doc_url=doc_url,
        description=text,
        # The status category, not the name: workflows call "done" Closed, Resolved, Shipped, ...
        done=(status.get("statusCategory") or {}).get("key") == "done",
    )


def updated_at(issue: dict[str, Any]) -> datetime | None:
    """Jira writes `2026-11-27T10:07:46.123+0000`."""
    text = (issue.get("fields") or {}).get("updated")
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
    except ValueError:
        return parse_time(text)


# ---- refusals: which field, and what to change -----------------------------------------------------

def refusal(error: JiraError, request: TicketRequest, settings: JiraSettings) -> str:
    """Jira's refusal of one issue in words that name the field and the fix.

    Jira's messages may be in the account's language, so the fix is chosen by the field, not the text."""
    if error.status in (401, 403):
        return f"Jira refused the account ({error.status}: {error}): {auth_fix(settings)}"
    if not error.fields:
        return f"Jira refused the ticket ({error.status}: {error})"
    return "; ".join(f"Jira refused field '{name}' ({message}): {_fix(name, message, request, settings)}"
                     for name, message in error.fields.items())


def _fix(name: str, message: str, request: TicketRequest, settings: JiraSettings) -> str:
    rule = settings.rule(request.severity)
    where = f"[jira] by_severity.{request.severity}" if rule is not settings.default else "[jira]"
    screen = f"add the field to the create screen of project {rule.project} (issue type {rule.issue_type})"
    if "appropriate screen" in message:
        return screen
    fixes = {
        "project": f"set {where} project to the key of a project this account can create issues in",
        "issuetype": f"set {where} issue_type to an issue type of project {rule.project}",
        "summary": "shorten the action to one line of at most 255 characters",
        "assignee": f"make {request.owner or 'the owner'} an assignable user of project {rule.project}, "
                    f"or name another owner",
        "priority": f"map {request.priority or 'the priority'} in [jira] priority_map to a priority of project "
                    f"{rule.project}, or {screen}",
        "issuelinks": f"check [jira] incident_link_type names a link type and issue {request.incident_id} exists, "
                      f"or {screen}",
    }
    if name in fixes:
        return fixes[name]
    if name in rule.extra_fields:
        return f"fix {where} extra_fields.{name}"
    return screen

