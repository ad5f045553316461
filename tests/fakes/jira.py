"""A stateful fake Jira, Cloud (REST v3 and v2) or Data Center (REST v2), for the real atlassian-python-api.

What it keeps: users, one or more projects (issue types, priorities, the fields on the create screen, link
types), issues with a three-status workflow (To Do, In Progress, Done, by status category) and a search index.

What it serves, as the published specs say:
- `GET /rest/api/{2,3}/user/search` (`query` on Cloud, matching display names and e-mail addresses, hidden ones
  included; `username` on Data Center, matching usernames, names and e-mail addresses).
- `POST /rest/api/{2,3}/issue` and `/issue/bulk` (at most 50; 201 when any was created, 400 when none; each
  refusal in `errors[]` with its `failedElementNumber`); bodies are validated against the spec's schema
  (IssueUpdateDetails / IssueUpdateBean), v3 descriptions against the ADF schema, and then field by field as
  Jira does (project, issue type, summary, assignee, priority, due date, labels, screen), in English or German.
- Search: Cloud `POST|GET /rest/api/{2,3}/search/jql` (paged by `nextPageToken`, `reconcileIssues`, bounded
  queries only; the old `/search` answers 410), Data Center `GET|POST /rest/api/2/search` (paged by
  `startAt`/`total`, `validateQuery`). JQL: `labels`, `key`/`issuekey`, `project`, `status`, `updated`/`created`
  with `=`, `!=`, `in`, `not in`, comparisons, relative dates ("-15m"), AND/OR, parentheses, ORDER BY.
- Eventual consistency (Cloud): with `search_lag=N`, a new or changed issue stays invisible (or stale) to the
  next N searches unless its id is in `reconcileIssues`; `bulkfetch` and `GET /issue/{key}` are always current.
- Cloud `POST /rest/api/{2,3}/issue/bulkfetch` (up to 100 ids or keys, case-insensitive, unknown ones left out).
- `GET|POST /rest/api/{2,3}/issue/{key}/transitions`, `GET /rest/api/{2,3}/issue/{key}`.
- Auth: Cloud Basic e-mail:API token; Data Center Bearer personal access token (or Basic); a 401 answers in
  plain text, as Jira's front end does. Failures on request through `fail_next` (429 with Retry-After, 5xx,
  committed-then-500 with `after=True`).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import itertools
import json
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import jsonschema
import requests

from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.connectors.jira.api import JiraApi
from ops_postmortem.connectors.jira.settings import IssueRule, JiraSettings
from ops_postmortem.connectors.jira.state import CreatedIssues
from ops_postmortem.connectors.jira.tracker import JiraTracker
from ops_postmortem.model import UTC
from ops_postmortem.people import Directory
from tests.conftest import SPECS
from tests.fakes.server import FakeService, Request, Response, route, serve

Flavour = Literal["cloud", "datacenter"]
EMAIL = "bot@acme.test"
TOKEN = "jira-test-token"
STATUSES = {
    "To Do": {"id": "10000", "name": "To Do", "statusCategory": {"id": 2, "key": "new", "name": "To Do"}},
    "In Progress": {"id": "3", "name": "In Progress",
                    "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"}},
    "Done": {"id": "10001", "name": "Done", "statusCategory": {"id": 3, "key": "done", "name": "Done"}},
    "Won't Do": {"id": "10002", "name": "Won't Do", "statusCategory": {"id": 3, "key": "done", "name": "Done"}},
}
TRANSITIONS = {"11": "To Do", "21": "In Progress", "31": "Done", "41": "Won't Do"}
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
SCREEN = frozenset({"project", "issuetype", "summary", "description", "assignee", "duedate", "priority", "labels",
                    "issuelinks", "reporter"})
_AUTH_FAILED = "Client must be authenticated to access this resource."

# Jira's field messages; an account set to German gets them in German.
MESSAGES = {
    "en": {
        "screen": "Field '{field}' cannot be set. It is not on the appropriate screen, or unknown.",
        "summary": "You must specify a summary of the issue.",
        "summary_newline": "The summary is invalid because it contains newline characters.",
        "summary_long": "Summary must be less than 255 characters.",
        "project": "Specify a valid project ID or key",
        "issuetype": "The issue type selected is invalid.",
        "assignee_cloud": "Specified user does not exist or you do not have required permissions",
        "assignee_dc": "User '{value}' does not exist.",
        "priority": "Specify the Priority (id or name) in the string format",
        "priority_name": "Priority name '{value}' is not valid",
        "duedate": "Error parsing date string: {value}",
        "labels": "The label '{value}' contains spaces which is invalid.",
        "description_adf": "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
        "description_string": "Operation value must be a string",
        "issuelinks": "No issue link type with name '{value}' found.",
        "issuelinks_issue": "Issue '{value}' does not exist.",
    },
    "de": {
        "screen": "Das Feld '{field}' kann nicht festgelegt werden. Es befindet sich nicht auf dem entsprechenden "
                  "Bildschirm oder ist unbekannt.",
        "summary": "Sie müssen eine Zusammenfassung des Vorgangs angeben.",
        "assignee_cloud": "Der angegebene Benutzer existiert nicht, oder Sie verfügen nicht über die erforderlichen "
                          "Berechtigungen.",
        "assignee_dc": "Benutzer '{value}' existiert nicht.",
        "priority_name": "Prioritätsname '{value}' ist ungültig",
    },
}


# ---- schemas -------------------------------------------------------------------------------------------

@functools.cache
def _spec(flavour: Flavour) -> dict[str, Any]:
    name = "swagger-v3.v3.json" if flavour == "cloud" else "jira-software-dc-10.3-openapi.json"
    spec: dict[str, Any] = json.loads((SPECS / "jira" / name).read_text(encoding="utf-8"))
    if flavour == "datacenter":
        schemas = spec["components"]["schemas"]
        # The generated DC spec types every field value as an object, yet Jira takes strings for summary,
        # description and due date (its own examples do): field values stay unchecked here, as on Cloud.
        schemas["IssueUpdateBean"]["properties"]["fields"]["additionalProperties"] = {}
        # Jira's JSON beans reject unknown properties ("Unrecognized field ..., not marked as ignorable").
        for bean in ("IssueUpdateBean", "IssuesUpdateBean", "SearchRequestBean"):
            schemas[bean]["additionalProperties"] = False
    return spec


@functools.cache
def _validator(flavour: Flavour, schema: str) -> jsonschema.Draft7Validator:
    spec = _spec(flavour)
    return jsonschema.Draft7Validator({"$ref": f"#/components/schemas/{schema}", "components": spec["components"]})


@functools.cache
def adf_validator() -> jsonschema.Draft4Validator:
    schema = json.loads((SPECS / "atlassian-adf" / "full.json").read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def schema_errors(flavour: Flavour, schema: str, body: Any) -> list[str]:
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}"
            for e in _validator(flavour, schema).iter_errors(body)]


# ---- state ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JiraUser:
    display_name: str
    email: str
    account_id: str = ""  # Cloud
    name: str = ""  # Data Center username
    active: bool = True
    email_visible: bool = True  # Cloud profile visibility
    account_type: str = "atlassian"


@dataclass
class Project:
    key: str
    id: str
    issue_types: tuple[str, ...] = ("Task", "Bug", "Story")
    screen: frozenset[str] = SCREEN


@dataclass
class Issue:
    id: int
    key: str
    project: str
    issue_type: str
    summary: str
    description: Any
    labels: list[str]
    created: datetime
    updated: datetime
    status: str = "To Do"
    assignee: JiraUser | None = None
    duedate: str | None = None
    priority: str | None = None
    links: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


class JqlError(Exception):
    pass


class FakeJira(FakeService):
    def __init__(
        self,
        flavour: Flavour = "cloud",
        *,
        users: Sequence[JiraUser] = (),
        projects: Sequence[Project] = (Project("OPS", "10000"),),
        search_lag: int = 0,
        page_cap: int = 50,
        locale: str = "en",
        link_types: Sequence[str] = ("Relates", "Blocks", "Duplicate"),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.flavour: Flavour = flavour
        self.users = list(users)
        self.projects = {p.key: p for p in projects}
        self.search_lag = search_lag
        self.page_cap = page_cap
        self.locale = locale
        self.link_types = tuple(link_types)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.issues: dict[int, Issue] = {}
        self.index: dict[int, Issue] = {}  # what search sees
        self._to_index: list[tuple[int, int]] = []  # (visible after this many searches, issue id)
        self.searches = 0
        self._ids = itertools.count(10001)
        self._numbers: dict[str, Iterator[int]] = {}
        self.basic = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
        self.base_url = ""  # set by the harness once served, for `self` links
        self._meetings: list[tuple[str, re.Pattern[str], threading.Barrier, list[int]]] = []

    @property
    def cloud(self) -> bool:
        return self.flavour == "cloud"

    # ---- what people do in the product -------------------------------------------------------------

    def transition(self, key: str, status: str) -> None:
        issue = self.by_key(key)
        assert issue is not None, key
        issue.status = status
        self._touch(issue)

    def rendezvous(self, method: str, path: str, parties: int = 2, timeout: float = 15.0) -> None:
        """The next `parties` matching requests wait for each other before being served: runners are made to
        race through the same window (all looked up, none created yet)."""
        self._meetings.append((method, re.compile(path), threading.Barrier(parties, timeout=timeout), [parties]))

    def catch_up(self) -> None:
        """The search index catches up with every write (Cloud's lag is over)."""
        self._to_index = [(-1, ident) for _, ident in self._to_index]
        self._refresh_index()

    def by_key(self, key: str) -> Issue | None:
        return next((i for i in self.issues.values() if i.key.upper() == key.upper()), None)

    # ---- plumbing ------------------------------------------------------------------------------------

    def error_body(self, status: int) -> Any:
        if status == 401:
            return _AUTH_FAILED
        if status == 429:
            return {"errorMessages": ["Rate limit exceeded."], "errors": {}}
        return {"errorMessages": [f"Internal server error ({status})"], "errors": {}}

    def dispatch(self, request: Request) -> Response:
        for method, path, barrier, left in self._meetings:
            with self.lock:
                joins = left[0] > 0 and method == request.method and bool(path.search(request.path))
                left[0] -= joins
            if joins:
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait()
                break
        if not self._authorised(request):
            with self.lock:
                self.requests.append(request)
            return Response(401, _AUTH_FAILED, {"Content-Type": "text/plain;charset=UTF-8",
                                                "WWW-Authenticate": 'Basic realm="protected-area"'})
        return super().dispatch(request)

    def _authorised(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        if self.cloud:
            return given == self.basic
        return given in (f"Bearer {TOKEN}", self.basic)

    def _version(self, version: str) -> Response | None:
        """Data Center has no REST v3."""
        if version == "3" and not self.cloud:
            return Response(404, {"errorMessages": ["null for uri: /rest/api/3"], "errors": {}})
        return None

    def _bad(self, messages: Sequence[str], fields: Mapping[str, str] | None = None) -> Response:
        return Response(400, {"errorMessages": list(messages), "errors": dict(fields or {})})

    def _message(self, name: str, **values: str) -> str:
        table = MESSAGES.get(self.locale, {})
        return table.get(name, MESSAGES["en"][name]).format(**values)

    def _touch(self, issue: Issue) -> None:
        issue.updated = self.clock()
        self._to_index.append((self.searches + self.search_lag, issue.id))
        if self.search_lag == 0:
            self._refresh_index()

    def _refresh_index(self) -> None:
        due = [(n, i) for n, i in self._to_index if n <= self.searches]
        self._to_index = [(n, i) for n, i in self._to_index if n > self.searches]
        for _, ident in due:
            self.index[ident] = copy.deepcopy(self.issues[ident])

    # ---- users ---------------------------------------------------------------------------------------

    @route("GET", r"/rest/api/(?P<version>[23])/user/search")
    def user_search(self, request: Request, version: str) -> Response:
        if (gone := self._version(version)) is not None:
            return gone
        if self.cloud:
            query = (request.arg("query") or "").strip().casefold()
            if not query and not request.arg("accountId"):
                return self._bad(["The query parameter is required."])
            found = [u for u in self.users if _cloud_match(u, query)]
        else:
            query = (request.arg("username") or "").strip().casefold()
            if not query:
                return self._bad(["The username query parameter was not provided"])
            found = [u for u in self.users if query == "." or _dc_match(u, query)]
        if request.arg("includeActive", "true") == "false":
            found = [u for u in found if not u.active]
        if request.arg("includeInactive", "false") != "true":
            found = [u for u in found if u.active]
        start = int(request.arg("startAt") or 0)
        limit = min(int(request.arg("maxResults") or 50), 1000)
        return Response(200, [self._user_json(u) for u in found[start:start + limit]])

    def _user_json(self, user: JiraUser) -> dict[str, Any]:
        if self.cloud:
            data: dict[str, Any] = {
                "self": f"{self.base_url}/rest/api/3/user?accountId={user.account_id}",
                "accountId": user.account_id, "accountType": user.account_type,
                "displayName": user.display_name, "active": user.active, "timeZone": "Europe/Berlin",
                "avatarUrls": {"48x48": "https://avatar-management.example/initials/X-1.png?size=48"},
            }
            if user.email_visible:
                data["emailAddress"] = user.email
            return data
        return {"self": f"{self.base_url}/rest/api/2/user?username={user.name}", "key": f"JIRAUSER{abs(hash(user.name)) % 100000}",
                "name": user.name, "emailAddress": user.email, "displayName": user.display_name,
                "active": user.active, "deleted": False, "timeZone": "Europe/Berlin", "locale": "en_US"}

    # ---- create ----------------------------------------------------------------------------------------

    @route("POST", r"/rest/api/(?P<version>[23])/issue")
    def create_one(self, request: Request, version: str) -> Response:
        if (gone := self._version(version)) is not None:
            return gone
        body = _json_body(request)
        problems = schema_errors(self.flavour, "IssueUpdateDetails" if self.cloud else "IssueUpdateBean", body)
        if problems:
            return self._invalid_payload(problems)
        issue, errors = self._create(body, version)
        if issue is None:
            return self._bad([], errors)
        return Response(201, self._created_json(issue, version))

    @route("POST", r"/rest/api/(?P<version>[23])/issue/bulk")
    def create_bulk(self, request: Request, version: str) -> Response:
        if (gone := self._version(version)) is not None:
            return gone
        body = _json_body(request)
        problems = schema_errors(self.flavour, "IssuesUpdateBean", body)
        if problems:
            return self._invalid_payload(problems)
        updates = body.get("issueUpdates") or []
        if len(updates) > 50:
            return self._bad(["Bulk create is limited to 50 issues per request."])
        issues, failures = [], []
        for number, update in enumerate(updates):
            issue, errors = self._create(update, version)
            if issue is None:
                failures.append({"status": 400, "elementErrors": {"errorMessages": [], "errors": errors},
                                 "failedElementNumber": number})
            else:
                issues.append(self._created_json(issue, version))
        return Response(201 if issues or not updates else 400, {"issues": issues, "errors": failures})

    def _invalid_payload(self, problems: Sequence[str]) -> Response:
        return self._bad([f"Invalid request payload. Refer to the REST API documentation and try again. ({p})"
                          for p in problems[:3]])

    def _created_json(self, issue: Issue, version: str) -> dict[str, Any]:
        return {"id": str(issue.id), "key": issue.key, "self": f"{self.base_url}/rest/api/{version}/issue/{issue.id}"}

    def _create(self, update: Mapping[str, Any], version: str) -> tuple[Issue | None, dict[str, str]]:
        """Jira's field checks, in its order; errors by field."""
        fields = dict(update.get("fields") or {})
        links = ((update.get("update") or {}).get("issuelinks")) or []
        errors: dict[str, str] = {}
        project = self._project(fields.get("project"))
        if project is None:
            return None, {"project": self._message("project")}
        for name in [*fields, *(["issuelinks"] if links else [])]:
            if name not in project.screen:
                errors[name] = self._message("screen", field=name)
        issue_type = (fields.get("issuetype") or {}).get("name")
        if issue_type not in project.issue_types:
            errors["issuetype"] = self._message("issuetype")
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = self._message("summary")
        elif "\n" in summary or "\r" in summary:
            errors["summary"] = self._message("summary_newline")
        elif len(summary) > 255:
            errors["summary"] = self._message("summary_long")
        description = fields.get("description")
        if description is not None and "description" not in errors:
            if version == "3":
                if not isinstance(description, dict):
                    errors["description"] = self._message("description_adf")
                elif list(adf_validator().iter_errors(description)):
                    errors["description"] = "INVALID_INPUT"
            elif not isinstance(description, str):
                errors["description"] = self._message("description_string")
        assignee = self._assignee(fields.get("assignee"), errors)
        priority = fields.get("priority")
        if priority is not None and "priority" not in errors:
            name = priority.get("name") if isinstance(priority, dict) else None
            if not isinstance(name, str):
                errors["priority"] = self._message("priority")
            elif name not in PRIORITIES:
                errors["priority"] = self._message("priority_name", value=name)
        due = fields.get("duedate")
        if due is not None and "duedate" not in errors:
            try:
                date.fromisoformat(str(due))
            except ValueError:
                errors["duedate"] = self._message("duedate", value=str(due))
        labels = fields.get("labels") or []
        for label in labels:
            if not isinstance(label, str) or re.search(r"\s", label) or not label:
                errors.setdefault("labels", self._message("labels", value=str(label)))
        for link in links:
            add = link.get("add") or {}
            link_type = (add.get("type") or {}).get("name")
            target = (add.get("outwardIssue") or add.get("inwardIssue") or {}).get("key", "")
            if link_type not in self.link_types:
                errors.setdefault("issuelinks", self._message("issuelinks", value=str(link_type)))
            elif self.by_key(str(target)) is None:
                errors.setdefault("issuelinks", self._message("issuelinks_issue", value=str(target)))
        if errors:
            return None, errors
        number = next(self._numbers.setdefault(project.key, itertools.count(1)))
        now = self.clock()
        known = {"project", "issuetype", "summary", "description", "labels", "assignee", "duedate", "priority"}
        issue = Issue(
            id=next(self._ids), key=f"{project.key}-{number}", project=project.key, issue_type=str(issue_type),
            summary=str(summary), description=description, labels=list(labels), created=now, updated=now,
            assignee=assignee, duedate=due, priority=priority.get("name") if isinstance(priority, dict) else None,
            links=[dict(link.get("add") or {}) for link in links],
            extra={k: v for k, v in fields.items() if k not in known},
        )
        self.issues[issue.id] = issue
        self._touch(issue)
        return issue, {}

    def _project(self, value: Any) -> Project | None:
        if not isinstance(value, dict):
            return None
        if "key" in value:
            return self.projects.get(str(value["key"]))
        return next((p for p in self.projects.values() if p.id == str(value.get("id"))), None)

    def _assignee(self, value: Any, errors: dict[str, str]) -> JiraUser | None:
        if value is None or "assignee" in errors:
            return None
        if self.cloud:
            wanted = value.get("accountId") if isinstance(value, dict) else None
            user = next((u for u in self.users if u.account_id == wanted and u.active), None)
            if user is None:
                errors["assignee"] = self._message("assignee_cloud")
            return user
        wanted = value.get("name") if isinstance(value, dict) else None
        user = next((u for u in self.users if u.name == wanted and u.active), None)
        if user is None:
            errors["assignee"] = self._message("assignee_dc", value=str(wanted))
        return user

    # ---- read ------------------------------------------------------------------------------------------

    @route("GET", r"/rest/api/(?P<version>[23])/issue/(?P<key>[^/]+)")
    def get_issue(self, request: Request, version: str, key: str) -> Response:
        if (gone := self._version(version)) is not None:
            return gone
        issue = self.by_key(key) or (self.issues.get(int(key)) if key.isdigit() else None)
        if issue is None:
            return Response(404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."],
                                  "errors": {}})
        return Response(200, self._issue_json(issue, ["*all"], version))

    @route("POST", r"/rest/api/(?P<version>[23])/issue/bulkfetch")
    def bulk_fetch(self, request: Request, version: str) -> Response:
        if not self.cloud:
            return Response(404, {"errorMessages": ["null for uri: bulkfetch"], "errors": {}})
        body = _json_body(request)
        problems = schema_errors(self.flavour, "BulkFetchIssueRequestBean", body)
        if problems:
            return self._invalid_payload(problems)
        wanted = body.get("issueIdsOrKeys") or []
        if not wanted or len(wanted) > 100:
            return self._bad(["Between 1 and 100 issue ids or keys must be requested."])
        found = {i.id: i for w in wanted if (i := self.by_key(str(w)) or self._by_id(str(w))) is not None}
        fields = body.get("fields") or ["*navigable"]
        return Response(200, {"expand": "", "issues": [self._issue_json(found[i], fields, version) for i in sorted(found)],
                              "issueErrors": []})

    def _by_id(self, text: str) -> Issue | None:
        return self.issues.get(int(text)) if text.isdigit() else None

    def _issue_json(self, issue: Issue, fields: Sequence[str], version: str) -> dict[str, Any]:
        everything = {
            "summary": issue.summary,
            "status": {**STATUSES[issue.status], "self": f"{self.base_url}/rest/api/{version}/status/"
                                                          f"{STATUSES[issue.status]['id']}"},
            "assignee": self._user_json(issue.assignee) if issue.assignee else None,
            "duedate": issue.duedate,
            "priority": {"name": issue.priority, "id": str(PRIORITIES.index(issue.priority) + 1)}
            if issue.priority else None,
            "labels": list(issue.labels),
            "description": issue.description,
            "updated": _jira_time(issue.updated),
            "created": _jira_time(issue.created),
            "issuetype": {"name": issue.issue_type, "subtask": False},
            "project": {"key": issue.project, "id": self.projects[issue.project].id},
            "resolution": {"name": "Done"} if issue.status == "Done" else None,
            **issue.extra,
        }
        wanted = set(itertools.chain.from_iterable(str(f).split(",") for f in fields))
        if not wanted & {"*all", "*navigable"}:
            everything = {k: v for k, v in everything.items() if k in wanted}
        data: dict[str, Any] = {"expand": "operations,editmeta,changelog,renderedFields", "id": str(issue.id),
                                "self": f"{self.base_url}/rest/api/{version}/issue/{issue.id}", "key": issue.key}
        if wanted != {"id"}:
            data["fields"] = everything
        return data

    # ---- search ----------------------------------------------------------------------------------------

    @route("GET", r"/rest/api/(?P<version>[23])/search")
    def search_old_get(self, request: Request, version: str) -> Response:
        return self._dc_search(request, version, {
            "jql": request.arg("jql"), "startAt": int(request.arg("startAt") or 0),
            "maxResults": int(request.arg("maxResults") or 50),
            "fields": _listed(request.query.get("fields")) or ["*navigable"],
            "validateQuery": request.arg("validateQuery", "true") not in ("false", "none")})

    @route("POST", r"/rest/api/(?P<version>[23])/search")
    def search_old_post(self, request: Request, version: str) -> Response:
        body = _json_body(request)
        if not self.cloud:
            problems = schema_errors(self.flavour, "SearchRequestBean", body)
            if problems:
                return self._bad([f"Unrecognized field or bad value ({p})" for p in problems[:3]])
        return self._dc_search(request, version, body)

    def _dc_search(self, request: Request, version: str, body: Mapping[str, Any]) -> Response:
        if self.cloud:  # removed from Cloud in favour of /search/jql
            gone = "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."
            return Response(410, {"errorMessages": [gone], "errors": {}})
        if (gone := self._version(version)) is not None:
            return gone
        try:
            matches, warnings = self._search(str(body.get("jql") or ""), bool(body.get("validateQuery", True)), ())
        except JqlError as exc:
            return Response(400, {"errorMessages": [str(exc)], "errors": {}, "warningMessages": []})
        start = int(body.get("startAt") or 0)
        size = min(int(body.get("maxResults") or 50), self.page_cap)
        fields = body.get("fields") or ["*navigable"]
        page = matches[start:start + size]
        data: dict[str, Any] = {"expand": "schema,names", "startAt": start, "maxResults": size, "total": len(matches),
                                "issues": [self._issue_json(i, fields, version) for i in page]}
        if warnings:
            data["warningMessages"] = warnings
        return Response(200, data)

    @route("POST", r"/rest/api/(?P<version>[23])/search/jql")
    def search_jql_post(self, request: Request, version: str) -> Response:
        body = _json_body(request)
        problems = schema_errors(self.flavour, "SearchAndReconcileRequestBean", body) if self.cloud else []
        if problems:
            return self._invalid_payload(problems)
        return self._cloud_search(version, body)

    @route("GET", r"/rest/api/(?P<version>[23])/search/jql")
    def search_jql_get(self, request: Request, version: str) -> Response:
        return self._cloud_search(version, {
            "jql": request.arg("jql"), "nextPageToken": request.arg("nextPageToken"),
            "maxResults": int(request.arg("maxResults") or 50), "fields": _listed(request.query.get("fields")),
            "reconcileIssues": [int(i) for i in _listed(request.query.get("reconcileIssues"))]})

    def _cloud_search(self, version: str, body: Mapping[str, Any]) -> Response:
        if not self.cloud:
            return Response(404, {"errorMessages": ["null for uri: /search/jql"], "errors": {}})
        reconcile = [int(i) for i in body.get("reconcileIssues") or []]
        if len(reconcile) > 50:
            return self._bad(["reconcileIssues accepts at most 50 issue ids."])
        jql = str(body.get("jql") or "")
        try:
            matches, _ = self._search(jql, True, reconcile, bounded=True)
        except JqlError as exc:
            return self._bad([str(exc)])
        token = body.get("nextPageToken")
        start = _token_offset(token, jql) if token else 0
        if start is None:
            return self._bad(["The provided next page token is invalid or expired."])
        size = min(int(body.get("maxResults") or 50), self.page_cap)
        page = matches[start:start + size]
        fields = body.get("fields") or ["id"]
        data: dict[str, Any] = {"issues": [self._issue_json(i, fields, version) for i in page],
                                "isLast": start + size >= len(matches)}
        if not data["isLast"]:
            data["nextPageToken"] = _token(start + size, jql)
        return Response(200, data)

    def _search(self, jql: str, validate: bool, reconcile: Sequence[int], *, bounded: bool = False
                ) -> tuple[list[Issue], list[str]]:
        self.searches += 1
        self._refresh_index()
        query, order = parse_jql(jql)
        if bounded and query is None:
            raise JqlError("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
        warnings = []
        for key in _keys_named(query):
            if self.by_key(key) is None:
                message = f"An issue with key '{key}' does not exist for field 'key'."
                if validate:
                    raise JqlError(message)
                warnings.append(message)
        visible = dict(self.index)
        visible.update({i: copy.deepcopy(self.issues[i]) for i in reconcile if i in self.issues})
        now = self.clock()
        found = [i for i in visible.values() if query is None or _matches(query, i, now)]
        for name, descending in reversed(order):
            found.sort(key=lambda i, n=name: _sort_key(i, n), reverse=descending)  # type: ignore[misc]
        return found, warnings

    # ---- links -----------------------------------------------------------------------------------------

    @route("POST", r"/rest/api/(?P<version>[23])/issueLink")
    def create_link(self, request: Request, version: str) -> Response:
        body = _json_body(request)
        problems = schema_errors(self.flavour, "LinkIssueRequestJsonBean", body) if self.cloud else []
        if problems:
            return self._invalid_payload(problems)
        link_type = ((body or {}).get("type") or {}).get("name")
        if link_type not in self.link_types:
            return Response(404, {"errorMessages": [f"No issue link type with name '{link_type}' found."],
                                  "errors": {}})
        inward = self.by_key(str(((body or {}).get("inwardIssue") or {}).get("key")))
        outward = self.by_key(str(((body or {}).get("outwardIssue") or {}).get("key")))
        if inward is None or outward is None:
            return Response(404, {"errorMessages": ["Issue Does Not Exist"], "errors": {}})
        inward.links.append({"type": {"name": link_type}, "outwardIssue": {"key": outward.key}})
        outward.links.append({"type": {"name": link_type}, "inwardIssue": {"key": inward.key}})
        self._touch(inward)
        self._touch(outward)
        return Response(201)

    # ---- transitions -----------------------------------------------------------------------------------

    @route("GET", r"/rest/api/(?P<version>[23])/issue/(?P<key>[^/]+)/transitions")
    def transitions(self, request: Request, version: str, key: str) -> Response:
        issue = self.by_key(key)
        if issue is None:
            return Response(404, {"errorMessages": ["Issue does not exist"], "errors": {}})
        return Response(200, {"expand": "transitions", "transitions": [
            {"id": ident, "name": status, "to": STATUSES[status], "hasScreen": False}
            for ident, status in TRANSITIONS.items() if status != issue.status]})

    @route("POST", r"/rest/api/(?P<version>[23])/issue/(?P<key>[^/]+)/transitions")
    def do_transition(self, request: Request, version: str, key: str) -> Response:
        issue = self.by_key(key)
        if issue is None:
            return Response(404, {"errorMessages": ["Issue does not exist"], "errors": {}})
        ident = str(((_json_body(request) or {}).get("transition") or {}).get("id"))
        if ident not in TRANSITIONS or TRANSITIONS[ident] == issue.status:
            return self._bad([f"Transition id '{ident}' is not valid for this issue."])
        self.transition(issue.key, TRANSITIONS[ident])
        return Response(204)


# ---- helpers -------------------------------------------------------------------------------------------

def _json_body(request: Request) -> Any:
    try:
        return request.json()
    except ValueError:
        return None


def _listed(values: Sequence[str] | None) -> list[str]:
    return [part for value in values or () for part in value.split(",") if part]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()


def _cloud_match(user: JiraUser, query: str) -> bool:
    """Prefix of the display name or of any word in it, or of the e-mail address (hidden or not)."""
    name = _fold(user.display_name)
    q = _fold(query)
    return name.startswith(q) or any(w.startswith(q) for w in name.split()) or user.email.casefold().startswith(q)


def _dc_match(user: JiraUser, query: str) -> bool:
    q = _fold(query)
    return (user.name.casefold().startswith(q) or _fold(user.display_name).startswith(q)
            or any(w.startswith(q) for w in _fold(user.display_name).split()) or user.email.casefold().startswith(q))


def _jira_time(value: datetime) -> str:
    v = value.astimezone(UTC)
    return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}+0000"


def _token(offset: int, jql: str) -> str:
    raw = json.dumps({"o": offset, "q": jql}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _token_offset(token: str, jql: str) -> int | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        return None
    return int(data["o"]) if data.get("q") == jql else None


# ---- a small JQL ----------------------------------------------------------------------------------------

_TOKENS = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>!=|>=|<=|[=<>(),~])'
                     r'|(?P<word>[A-Za-z0-9_.\-*:/]+))')
_FIELDS = {"labels", "key", "issuekey", "project", "status", "updated", "created"}


def _tokenize(jql: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(jql):
        if not jql[pos:].strip():
            break
        match = _TOKENS.match(jql, pos)
        if not match or match.end() == pos:
            raise JqlError(f"Error in the JQL Query: The character '{jql[pos:].strip()[0]}' is a reserved JQL "
                           f"character. You must enclose it in a string or use the escape '\\u{ord(jql[pos:].strip()[0]):04x}' instead.")
        kind = match.lastgroup or "word"
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
        pos = match.end()
    return tokens


Clause = tuple[Any, ...]


def parse_jql(jql: str) -> tuple[Clause | None, list[tuple[str, bool]]]:
    """(where clause or None, order by [(field, descending)])."""
    tokens = _tokenize(jql)
    order: list[tuple[str, bool]] = []
    lowered = [v.lower() if k == "word" else None for k, v in tokens]
    for i in range(len(tokens) - 1):
        if lowered[i] == "order" and lowered[i + 1] == "by":
            order_tokens, tokens = tokens[i + 2:], tokens[:i]
            for part in " ".join(v for _, v in order_tokens).split(","):
                words = part.split()
                if not words:
                    raise JqlError("Error in the JQL Query: Expecting a field name after 'order by'.")
                order.append((words[0].lower(), len(words) > 1 and words[1].lower() == "desc"))
            break
    if not tokens:
        return None, order
    clause, rest = _or(tokens)
    if rest:
        raise JqlError(f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got '{rest[0][1]}'.")
    return clause, order


def _or(tokens: list[tuple[str, str]]) -> tuple[Clause, list[tuple[str, str]]]:
    left, tokens = _and(tokens)
    while tokens and tokens[0][0] == "word" and tokens[0][1].lower() == "or":
        right, tokens = _and(tokens[1:])
        left = ("or", left, right)
    return left, tokens


def _and(tokens: list[tuple[str, str]]) -> tuple[Clause, list[tuple[str, str]]]:
    left, tokens = _clause(tokens)
    while tokens and tokens[0][0] == "word" and tokens[0][1].lower() == "and":
        right, tokens = _clause(tokens[1:])
        left = ("and", left, right)
    return left, tokens


def _clause(tokens: list[tuple[str, str]]) -> tuple[Clause, list[tuple[str, str]]]:
    if not tokens:
        raise JqlError("Error in the JQL Query: Expecting a field name but reached the end of the query.")
    if tokens[0] == ("op", "("):
        inner, rest = _or(tokens[1:])
        if not rest or rest[0] != ("op", ")"):
            raise JqlError("Error in the JQL Query: Expecting ')' before the end of the query.")
        return inner, rest[1:]
    name = tokens[0][1].lower()
    if name not in _FIELDS:
        raise JqlError(f"Field '{tokens[0][1]}' does not exist or you do not have permission to view it.")
    rest = tokens[1:]
    if len(rest) >= 2 and rest[0][1].lower() == "not" and rest[1][1].lower() == "in":
        op, rest = "not in", rest[2:]
    elif rest and rest[0][1].lower() in ("in", "=", "!=", ">=", "<=", ">", "<", "~"):
        op, rest = rest[0][1].lower(), rest[1:]
    else:
        raise JqlError(f"Error in the JQL Query: Expecting operator after '{tokens[0][1]}'.")
    if op in ("in", "not in"):
        if not rest or rest[0] != ("op", "("):
            raise JqlError(f"Error in the JQL Query: Expecting '(' after '{op}'.")
        values, rest = [], rest[1:]
        while rest and rest[0] != ("op", ")"):
            if rest[0] != ("op", ","):
                values.append(rest[0][1])
            rest = rest[1:]
        if not rest:
            raise JqlError("Error in the JQL Query: Expecting ')' before the end of the query.")
        return (op, name, values), rest[1:]
    if not rest or rest[0][0] == "op":
        raise JqlError(f"Error in the JQL Query: Expecting a value after '{op}'.")
    return (op, name, [rest[0][1]]), rest[1:]


def _keys_named(clause: Clause | None) -> list[str]:
    if clause is None:
        return []
    if clause[0] in ("and", "or"):
        return _keys_named(clause[1]) + _keys_named(clause[2])
    return [v.upper() for v in clause[2]] if clause[1] in ("key", "issuekey") else []


def _when(text: str, now: datetime) -> datetime:
    relative = re.fullmatch(r"([-+]?)(\d+)([mhdw])", text.strip())
    if relative:
        sign = -1 if relative.group(1) == "-" else 1
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[relative.group(3)]
        return now + sign * timedelta(**{unit: int(relative.group(2))})
    for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise JqlError(f"Date value '{text}' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
                   f"'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.")


def _matches(clause: Clause, issue: Issue, now: datetime) -> bool:
    op = clause[0]
    if op == "and":
        return _matches(clause[1], issue, now) and _matches(clause[2], issue, now)
    if op == "or":
        return _matches(clause[1], issue, now) or _matches(clause[2], issue, now)
    name, values = clause[1], clause[2]
    if name in ("updated", "created"):
        moment = issue.updated if name == "updated" else issue.created
        # JQL compares to the minute
        moment = moment.replace(second=0, microsecond=0)
        bound = _when(values[0], now).replace(second=0, microsecond=0)
        return {">=": moment >= bound, "<=": moment <= bound, ">": moment > bound, "<": moment < bound,
                "=": moment == bound, "!=": moment != bound}.get(op, False)
    have = {"labels": set(issue.labels), "key": {issue.key.upper()}, "issuekey": {issue.key.upper()},
            "project": {issue.project}, "status": {issue.status.casefold()}}[name]
    wanted = {v.upper() if name in ("key", "issuekey") else v.casefold() if name == "status" else v for v in values}
    hit = bool(have & wanted)
    return not hit if op in ("!=", "not in") else hit


def _sort_key(issue: Issue, name: str) -> Any:
    return {"updated": issue.updated, "created": issue.created, "key": (issue.project, issue.id)}.get(name, issue.id)


# ---- tracker harnesses for the contract and e2e suites -------------------------------------------------

SETTINGS = {"priority_map": {"P0": "Highest", "P1": "High", "P2": "Medium", "P3": "Low"}}


def jira_settings(base: str, flavour: Flavour, **changes: Any) -> JiraSettings:
    settings = JiraSettings(
        url=base, deployment=flavour, api_version=3 if flavour == "cloud" else 2,
        default=IssueRule("OPS", "Task"), username=EMAIL if flavour == "cloud" else None,
        priority_map=SETTINGS["priority_map"],
    )
    return replace(settings, **changes)


def users_for(people: Directory, flavour: Flavour) -> list[JiraUser]:
    """The fake's accounts for the people a test knows: Cloud accountIds are their `jira` handles."""
    users = []
    for entry in people.entries:
        email = entry.email or f"{entry.name.split()[0].lower()}@acme.test"
        users.append(JiraUser(entry.name, email, account_id=entry.handle("jira") or f"712020:{email.split('@')[0]}",
                              name=email.split("@")[0]))
    return users


class JiraHarness:
    """The tracker plus what people do in Jira itself: move a ticket to Done."""

    def __init__(self, fake: FakeJira, base: str, tracker: JiraTracker) -> None:
        self.fake = fake
        self.base = base
        self.tracker = tracker

    def close_in_product(self, key: str) -> None:
        version = 3 if self.fake.cloud else 2
        auth = {"auth": (EMAIL, TOKEN)} if self.fake.cloud else {"headers": {"Authorization": f"Bearer {TOKEN}"}}
        response = requests.post(f"{self.base}/rest/api/{version}/issue/{key}/transitions",
                                 json={"transition": {"id": "31"}}, timeout=10, **auth)  # type: ignore[arg-type]
        assert response.status_code == 204, response.text


@contextmanager
def jira_harness(folder: Path, people: Directory, flavour: Flavour, **fake_options: Any) -> Iterator[JiraHarness]:
    fake = FakeJira(flavour, users=users_for(people, flavour), **fake_options)
    with serve(fake) as base:
        fake.base_url = base
        settings = jira_settings(base, flavour)
        if flavour == "datacenter":  # no accountIds on Data Center: owners are found by user search
            people = Directory(replace(e, handles=tuple(h for h in e.handles if h[0] != "jira")) for e in people.entries)
        api = JiraApi.connect(settings, TOKEN, RetryPolicy(base=0.01, max_wait=0.05))
        tracker = JiraTracker(api, settings, CreatedIssues(folder / "jira-created.json"), directory=people)
        yield JiraHarness(fake, base, tracker)


@contextmanager
def jira_cloud_tracker(folder: Path, people: Directory) -> Iterator[JiraHarness]:
    # Search lags two calls behind every write, as Cloud's index does: the tracker must cope.
    with jira_harness(folder, people, "cloud", search_lag=2) as made:
        yield made


@contextmanager
def jira_dc_tracker(folder: Path, people: Directory) -> Iterator[JiraHarness]:
    with jira_harness(folder, people, "datacenter") as made:
        yield made

