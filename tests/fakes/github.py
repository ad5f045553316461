"""A stateful fake of the GitHub REST API (api.github.com), on 127.0.0.1, for the GitHub Issues tracker.

It follows the published OpenAPI description (../shared/specs/github/api.github.com.json, loaded once per
test session): every POST/PATCH body is validated against the operation's schema and refused with GitHub's
own 422 "Invalid request" body; answers carry the real field names. Quirks kept on purpose:
- the issues list includes pull requests, and its `Link` header points at /repositories/{id}/issues;
- /search/issues lags: an issue appears there only `search_lag` seconds after it was created, 30 searches
  a minute, queries over 256 characters refused, `is:issue`/`is:pull-request` required (as for GitHub Apps);
- labels in `label:` search qualifiers are ORed when comma-separated, list `labels=` filters are ANDed;
- without push access, labels, assignees and milestone of a new issue are silently dropped;
- an unknown assignee is a 422 `invalid` on `assignees`; a repeated label or milestone a 422 `already_exists`;
- rate limits: `x-ratelimit-*` on every answer; `secondary_limit()` injects a 403/429 with Retry-After.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jsonschema

from ops_postmortem.connectors.github.api import GitHubApi
from ops_postmortem.connectors.github.tracker import GitHubTracker
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.people import Directory
from tests.conftest import SPECS
from tests.fakes.server import FakeService, Request, Response, route, serve

SPEC_PATH = SPECS / "github" / "api.github.com.json"
API = "https://api.github.com"
WEB = "https://github.com"
DOCS = "https://docs.github.com/rest"
TOKEN = "ghp_FakeTokenForTests0123456789abcdefABCD"
REPO = "acme/ops"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID "
    "C6A2:3F9E:1B2C3D:1C2D3E:6740A1B2."
)


# ---- the published schemas -------------------------------------------------------------------------------


@functools.cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return data


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema draft 4: `nullable` becomes a null type; annotations dropped."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in (
            "nullable",
            "example",
            "examples",
            "description",
            "discriminator",
            "readOnly",
            "writeOnly",
            "deprecated",
            "externalDocs",
            "xml",
            "title",
        ) or key.startswith("x-"):
            continue
        if key == "properties":
            out[key] = {name: _to_json_schema(sub) for name, sub in value.items()}
        else:
            out[key] = _to_json_schema(value)
    if node.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def _components() -> dict[str, Any]:
    return {"schemas": _to_json_schema(spec()["components"]["schemas"])}


def _validator(schema: dict[str, Any]) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator({**_to_json_schema(schema), "components": _components()})


@functools.cache
def request_validator(path: str, method: str) -> jsonschema.Draft4Validator:
    """The validator of an operation's JSON request body, e.g. ("/repos/{owner}/{repo}/issues", "post")."""
    body = spec()["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return _validator(body)


@functools.cache
def response_validator(path: str, method: str, status: str) -> jsonschema.Draft4Validator:
    answer = spec()["paths"][path][method]["responses"][status]
    if "$ref" in answer:
        answer = spec()["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
    return _validator(answer["content"]["application/json"]["schema"])


def schema_errors(validator: jsonschema.Draft4Validator, data: Any) -> list[str]:
    """GitHub's wording: "For 'properties/title', nil is not a string."."""
    messages = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = "/".join(f"properties/{p}" if isinstance(p, str) else str(p) for p in error.absolute_path)
        value = "nil" if error.instance is None else json.dumps(error.instance)
        messages.append(f"For '{where or 'items'}', {value} {_reason(error)}.")
    return messages


def _reason(error: jsonschema.ValidationError) -> str:
    if error.validator == "type":
        return f"is not {'an' if str(error.validator_value)[0] in 'aeiou' else 'a'} {error.validator_value}"
    if error.validator == "enum":
        return f"is not a member of {error.validator_value}"
    return error.message


# ---- the fake --------------------------------------------------------------------------------------------


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(login: str, uid: int) -> dict[str, Any]:
    base = f"{API}/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": f"U_kgDO{uid:08d}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}",
        "gravatar_id": "",
        "url": base,
        "html_url": f"{WEB}/{login}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": "User",
        "user_view_type": "public",
        "site_admin": False,
    }


@dataclass
class _Rendezvous:
    method: str
    path: re.Pattern[str]
    barrier: threading.Barrier
    left: int


@dataclass
class FakeIssue:
    number: int
    id: int
    title: str
    body: str | None
    labels: list[str]
    assignees: list[str]
    milestone: int | None
    author: str
    created_at: datetime
    updated_at: datetime
    created_mono: float
    state: str = "open"
    state_reason: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    pull_request: bool = False
    duplicate_of: int | None = None
    comments: int = 0


@dataclass
class FakeLabel:
    id: int
    name: str
    color: str
    description: str | None


@dataclass
class FakeMilestone:
    number: int
    id: int
    title: str
    description: str | None
    due_on: str | None
    state: str
    created_at: datetime


class GitHubFake(FakeService):
    """One repository with its issues, labels, milestones and collaborators, behind one token."""

    def __init__(
        self,
        full_name: str = REPO,
        *,
        token: str = TOKEN,
        collaborators: tuple[str, ...] = (),
        push: bool = True,
        search_lag: float = 0.0,
        search_limit: int = 30,
        search_window: float = 60.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self.full_name = full_name
        self.owner, self.name = full_name.split("/")
        self.token = token
        self.collaborators = collaborators
        self.push = push  # the token's user may set labels, assignees and milestones
        self.has_issues = True
        self.search_lag = search_lag  # seconds before a new issue shows up in /search/issues
        self.search_limit = search_limit  # searches per window
        self.search_window = search_window
        self.now = now
        self.viewer = "ops-bot"
        self.repo_id = 1296269
        self.issues: dict[int, FakeIssue] = {}
        self.labels: dict[str, FakeLabel] = {}  # by casefolded name
        self.milestones: dict[int, FakeMilestone] = {}
        self._searches: list[float] = []
        self._rendezvous: list[_Rendezvous] = []
        self._ids = iter(range(1_000_001, 10**9))
        self._core_used = 0
        self.on_create: Callable[[FakeIssue], None] | None = None  # runs after an issue is committed

    # ---- what people do in the product, and test controls -------------------------------------------------

    def close_in_product(self, number: int, reason: str = "completed") -> None:
        with self.lock:
            issue = self.issues[number]
            issue.state, issue.state_reason = "closed", reason
            issue.closed_at = issue.updated_at = self.now()
            issue.closed_by = self.collaborators[0] if self.collaborators else self.viewer

    def add_pull_request(self, title: str, labels: list[str]) -> int:
        with self.lock:
            issue = self._new_issue({"title": title, "labels": labels}, author=self.viewer)
            issue.pull_request = True
            return issue.number

    def secondary_limit(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int = 403,
        retry_after: str | None = "0",
        times: int = 1,
    ) -> None:
        """The next matching requests are refused by a secondary rate limit, as GitHub words it."""
        headers = {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4990",
            "x-ratelimit-used": "10",
            "x-ratelimit-resource": "core",
            "x-ratelimit-reset": str(int(time.time()) + 3600),
        }
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        self.fail_next(
            status,
            method=method,
            path=path,
            times=times,
            headers=headers,
            body={
                "message": SECONDARY_MESSAGE,
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                "#about-secondary-rate-limits",
                "status": str(status),
            },
        )

    def rendezvous(self, method: str, path: str, parties: int = 2, timeout: float = 15.0) -> None:
        """The next `parties` matching requests wait for each other before being served: two runners are
        made to race through the same window (both looked up, neither created yet)."""
        self._rendezvous.append(
            _Rendezvous(method, re.compile(path), threading.Barrier(parties, timeout=timeout), parties)
        )

    def with_key(self, item_key: str) -> list[FakeIssue]:
        return [
            i
            for i in self.issues.values()
            if item_key.casefold() in (n.casefold() for n in i.labels) and not i.pull_request
        ]

    # ---- plumbing -----------------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        for meeting in self._rendezvous:
            with self.lock:
                joins = (
                    meeting.left > 0
                    and meeting.method == request.method
                    and meeting.path.search(request.path)
                )
                if joins:
                    meeting.left -= 1
            if joins:
                try:
                    meeting.barrier.wait()
                except threading.BrokenBarrierError:
                    pass
                break
        with self.lock:
            auth = request.headers.get("authorization", "")
            if auth not in (f"Bearer {self.token}", f"token {self.token}"):
                self.requests.append(request)
                message = "Requires authentication" if not auth else "Bad credentials"
                return Response(401, {"message": message, "documentation_url": DOCS, "status": "401"})
            search = request.path == "/search/issues"
            if search and not self._search_allowed():
                self.requests.append(request)
                return self._search_limited()
            response = super().dispatch(request)
            self._core_used += 0 if search else 1
            self._rate_headers(response, search)
            return response

    def _search_allowed(self) -> bool:
        now = time.monotonic()
        self._searches = [t for t in self._searches if now - t < self.search_window]
        if len(self._searches) >= self.search_limit:
            return False
        self._searches.append(now)
        return True

    def _search_limited(self) -> Response:
        reset = int(time.time() + self.search_window - (time.monotonic() - self._searches[0])) + 1
        return Response(
            403,
            {
                "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support "
                "for help, please include the request ID C6A2:3F9E:1B2C3D:1C2D3E:6740A1B2.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                "status": "403",
            },
            {
                "x-ratelimit-limit": str(self.search_limit),
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": str(self.search_limit),
                "x-ratelimit-reset": str(reset),
                "x-ratelimit-resource": "search",
            },
        )

    def _rate_headers(self, response: Response, search: bool) -> None:
        if search:
            values = {"limit": self.search_limit, "used": len(self._searches), "resource": "search"}
        else:
            values = {"limit": 5000, "used": self._core_used, "resource": "core"}
        headers = {
            "x-ratelimit-limit": str(values["limit"]),
            "x-ratelimit-remaining": str(max(0, int(values["limit"]) - int(values["used"]))),
            "x-ratelimit-used": str(values["used"]),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": str(values["resource"]),
            "X-GitHub-Api-Version-Selected": "2022-11-28",
        }
        for key, value in headers.items():
            response.headers.setdefault(key, value)

    def error_body(self, status: int) -> Any:
        messages = {
            500: "Server Error",
            502: "Server Error",
            503: "Service Unavailable",
            404: "Not Found",
            403: "Forbidden",
            401: "Bad credentials",
        }
        return {
            "message": messages.get(status, f"HTTP {status}"),
            "documentation_url": DOCS,
            "status": str(status),
        }

    def _not_found(self) -> Response:
        return Response(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})

    def _ours(self, owner: str, repo: str) -> bool:
        return f"{owner}/{repo}".casefold() == self.full_name.casefold()

    def _invalid(self, request: Request, path: str, method: str) -> Response | None:
        """GitHub's answers to a body that is not JSON, or does not fit the operation's schema."""
        try:
            data = json.loads(request.body or b"null")
        except ValueError:
            return Response(
                400, {"message": "Problems parsing JSON", "documentation_url": DOCS, "status": "400"}
            )
        errors = schema_errors(request_validator(path, method), data)
        if errors:
            return Response(
                422,
                {
                    "message": "Invalid request.\n\n" + "\n".join(errors),
                    "documentation_url": DOCS,
                    "status": "422",
                },
            )
        return None

    @staticmethod
    def _failed(*errors: dict[str, Any]) -> Response:
        return Response(
            422,
            {
                "message": "Validation Failed",
                "errors": list(errors),
                "documentation_url": DOCS,
                "status": "422",
            },
        )

    def _page(
        self,
        request: Request,
        items: list[Any],
        link_path: str,
        wrap: Callable[[list[Any]], Any] | None = None,
    ) -> Response:
        """One page of `items` with GitHub's Link header (first/prev/next/last) pointing at `link_path`."""
        try:
            per_page = min(100, max(1, int(request.arg("per_page", "30") or 30)))
            page = max(1, int(request.arg("page", "1") or 1))
        except ValueError:
            return self._failed({"resource": "Search", "field": "per_page", "code": "invalid"})
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        query = {k: v[-1] for k, v in request.query.items() if k != "page"}
        base = f"http://{request.headers.get('host', '127.0.0.1')}{link_path}"
        links = []
        for rel, number in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if (rel in ("prev", "first") and page > 1) or (rel in ("next", "last") and page < last):
                links.append(f'<{base}?{urlencode({**query, "page": number})}>; rel="{rel}"')
        headers = {"Link": ", ".join(links)} if links else {}
        return Response(200, wrap(chunk) if wrap else chunk, headers)

    # ---- JSON shapes --------------------------------------------------------------------------------------

    def _label_json(self, label: FakeLabel) -> dict[str, Any]:
        return {
            "id": label.id,
            "node_id": f"LA_kwDO{label.id}",
            "url": f"{API}/repos/{self.full_name}/labels/{label.name}",
            "name": label.name,
            "color": label.color,
            "default": False,
            "description": label.description,
        }

    def _milestone_json(self, m: FakeMilestone) -> dict[str, Any]:
        url = f"{API}/repos/{self.full_name}/milestones/{m.number}"
        inside = [i for i in self.issues.values() if i.milestone == m.number]
        return {
            "url": url,
            "html_url": f"{WEB}/{self.full_name}/milestone/{m.number}",
            "labels_url": f"{url}/labels",
            "id": m.id,
            "node_id": f"MI_kwDO{m.id}",
            "number": m.number,
            "state": m.state,
            "title": m.title,
            "description": m.description,
            "creator": _user(self.viewer, 1),
            "open_issues": sum(1 for i in inside if i.state == "open"),
            "closed_issues": sum(1 for i in inside if i.state == "closed"),
            "created_at": _stamp(m.created_at),
            "updated_at": _stamp(m.created_at),
            "closed_at": None,
            "due_on": m.due_on,
        }

    def _uid(self, login: str) -> int:
        return 1000 + sum(ord(c) for c in login)

    def _issue_json(self, issue: FakeIssue) -> dict[str, Any]:
        url = f"{API}/repos/{self.full_name}/issues/{issue.number}"
        users = [_user(login, self._uid(login)) for login in issue.assignees]
        data: dict[str, Any] = {
            "url": url,
            "repository_url": f"{API}/repos/{self.full_name}",
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{WEB}/{self.full_name}/{'pull' if issue.pull_request else 'issues'}/{issue.number}",
            "id": issue.id,
            "node_id": f"I_kwDOBFQLEc{issue.id}",
            "number": issue.number,
            "title": issue.title,
            "user": _user(issue.author, self._uid(issue.author)),
            "labels": [self._label_json(self.labels[n.casefold()]) for n in issue.labels],
            "state": issue.state,
            "locked": False,
            "assignee": users[0] if users else None,
            "assignees": users,
            "milestone": self._milestone_json(self.milestones[issue.milestone]) if issue.milestone else None,
            "comments": issue.comments,
            "created_at": _stamp(issue.created_at),
            "updated_at": _stamp(issue.updated_at),
            "closed_at": _stamp(issue.closed_at) if issue.closed_at else None,
            "author_association": "MEMBER",
            "active_lock_reason": None,
            "body": issue.body,
            "state_reason": issue.state_reason,
            "closed_by": _user(issue.closed_by, self._uid(issue.closed_by)) if issue.closed_by else None,
            "timeline_url": f"{url}/timeline",
            "performed_via_github_app": None,
            "reactions": {
                "url": f"{url}/reactions",
                "total_count": 0,
                "+1": 0,
                "-1": 0,
                "laugh": 0,
                "hooray": 0,
                "confused": 0,
                "heart": 0,
                "rocket": 0,
                "eyes": 0,
            },
        }
        if issue.pull_request:
            pulls = f"{API}/repos/{self.full_name}/pulls/{issue.number}"
            data["pull_request"] = {
                "url": pulls,
                "html_url": data["html_url"],
                "diff_url": data["html_url"] + ".diff",
                "patch_url": data["html_url"] + ".patch",
                "merged_at": None,
            }
        return data

    # ---- repository ---------------------------------------------------------------------------------------

    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)")
    def get_repo(self, request: Request, owner: str, repo: str) -> Response:
        if not self._ours(owner, repo):
            return self._not_found()
        data = json.loads(
            json.dumps(spec()["components"]["examples"]["full-repository-default-response"]["value"])
        )
        data.update(
            {
                "id": self.repo_id,
                "name": self.name,
                "full_name": self.full_name,
                "html_url": f"{WEB}/{self.full_name}",
                "url": f"{API}/repos/{self.full_name}",
                "has_issues": self.has_issues,
                "private": True,
                "language": "Python",
                "permissions": {
                    "admin": False,
                    "maintain": False,
                    "push": self.push,
                    "triage": self.push,
                    "pull": True,
                },
            }
        )
        data["owner"] = _user(self.owner, 1)
        for key in ("source", "parent", "template_repository", "organization"):  # ours is no fork
            data.pop(key, None)
        return Response(200, data)

    # ---- issues -------------------------------------------------------------------------------------------

    def _new_issue(self, body: dict[str, Any], author: str) -> FakeIssue:
        now = self.now()
        number = max([*self.issues, *(0,)]) + 1
        labels = []
        for name in body.get("labels") or []:
            name = name if isinstance(name, str) else name["name"]
            if name.casefold() not in self.labels:  # GitHub makes a label it has not seen
                self.labels[name.casefold()] = FakeLabel(next(self._ids), name, "ededed", None)
            labels.append(self.labels[name.casefold()].name)
        issue = FakeIssue(
            number,
            next(self._ids),
            str(body["title"]),
            body.get("body"),
            list(dict.fromkeys(labels)),
            list(body.get("assignees") or []),
            body.get("milestone"),
            author,
            now,
            now,
            time.monotonic(),
        )
        self.issues[number] = issue
        return issue

    @route("POST", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues")
    def create_issue(self, request: Request, owner: str, repo: str) -> Response:
        if not self._ours(owner, repo):
            return self._not_found()
        if not self.has_issues:
            return Response(
                410,
                {"message": "Issues are disabled for this repo", "documentation_url": DOCS, "status": "410"},
            )
        invalid = self._invalid(request, "/repos/{owner}/{repo}/issues", "post")
        if invalid:
            return invalid
        body = request.json()
        title = str(body["title"])
        if not title.strip():
            return self._failed({"resource": "Issue", "code": "missing_field", "field": "title"})
        if len(title) > 256:
            return self._failed(
                {
                    "resource": "Issue",
                    "code": "custom",
                    "field": "title",
                    "message": "title is too long (maximum is 256 characters)",
                }
            )
        if len(body.get("body") or "") > 65536:
            return self._failed(
                {
                    "resource": "Issue",
                    "code": "custom",
                    "field": "body",
                    "message": "body is too long (maximum is 65536 characters)",
                }
            )
        if not self.push:  # silently dropped for users without push access
            body = {
                k: v for k, v in body.items() if k not in ("labels", "assignees", "assignee", "milestone")
            }
        for login in body.get("assignees") or []:
            if login.casefold() not in (c.casefold() for c in self.collaborators):
                return self._failed(
                    {"value": login, "resource": "Issue", "field": "assignees", "code": "invalid"}
                )
        milestone = body.get("milestone")
        if milestone is not None and (not isinstance(milestone, int) or milestone not in self.milestones):
            return self._failed(
                {"value": milestone, "resource": "Issue", "field": "milestone", "code": "invalid"}
            )
        issue = self._new_issue(body, self.viewer)
        if self.on_create is not None:
            self.on_create(issue)
        url = f"{API}/repos/{self.full_name}/issues/{issue.number}"
        return Response(201, self._issue_json(issue), {"Location": url})

    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/(?P<number>\d+)")
    def get_issue(self, request: Request, owner: str, repo: str, number: str) -> Response:
        issue = self.issues.get(int(number))
        if not self._ours(owner, repo) or issue is None:
            return self._not_found()
        return Response(200, self._issue_json(issue))

    @route("PATCH", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/(?P<number>\d+)")
    def update_issue(self, request: Request, owner: str, repo: str, number: str) -> Response:
        issue = self.issues.get(int(number))
        if not self._ours(owner, repo) or issue is None:
            return self._not_found()
        invalid = self._invalid(request, "/repos/{owner}/{repo}/issues/{issue_number}", "patch")
        if invalid:
            return invalid
        body = request.json()
        state = body.get("state")
        if state and state != issue.state:
            if state == "closed":
                reason = body.get("state_reason") or "completed"
                if reason == "reopened":
                    return self._failed({"resource": "Issue", "field": "state_reason", "code": "invalid"})
                if reason == "duplicate":
                    target = [i for i in self.issues.values() if i.id == body.get("duplicate_issue_id")]
                    if not target or target[0].number == issue.number:
                        return self._failed(
                            {"resource": "Issue", "field": "duplicate_issue_id", "code": "invalid"}
                        )
                    issue.duplicate_of = target[0].number
                issue.state, issue.state_reason = "closed", reason
                issue.closed_at, issue.closed_by = self.now(), self.viewer
            else:
                issue.state, issue.state_reason, issue.closed_at, issue.closed_by = (
                    "open",
                    "reopened",
                    None,
                    None,
                )
        for key in ("title", "body"):
            if key in body:
                setattr(issue, key, body[key])
        if "labels" in body:
            issue.labels = [
                self._new_label_name(n if isinstance(n, str) else n["name"]) for n in body["labels"]
            ]
        issue.updated_at = self.now()
        return Response(200, self._issue_json(issue))

    def _new_label_name(self, name: str) -> str:
        if name.casefold() not in self.labels:
            self.labels[name.casefold()] = FakeLabel(next(self._ids), name, "ededed", None)
        return self.labels[name.casefold()].name

    def _list(self, request: Request) -> Response:
        state = request.arg("state", "open")
        if state not in ("open", "closed", "all"):
            return self._failed({"resource": "Issue", "field": "state", "code": "invalid"})
        wanted = [n.strip().casefold() for n in (request.arg("labels") or "").split(",") if n.strip()]
        since_text = request.arg("since")
        try:
            since = datetime.fromisoformat(since_text) if since_text else None
        except ValueError:
            return self._failed({"resource": "Issue", "field": "since", "code": "invalid"})
        found = [
            i
            for i in self.issues.values()
            if (state == "all" or i.state == state)
            and all(w in (n.casefold() for n in i.labels) for w in wanted)
            and (since is None or i.updated_at.replace(microsecond=0) >= since)
        ]
        sort = request.arg("sort", "created")
        key: Callable[[FakeIssue], Any] = {
            "created": lambda i: (i.created_at, i.number),
            "updated": lambda i: (i.updated_at, i.number),
            "comments": lambda i: (i.comments, i.number),
        }.get(sort or "created", lambda i: i.number)
        found.sort(key=key, reverse=request.arg("direction", "desc") != "asc")
        return self._page(
            request, [self._issue_json(i) for i in found], f"/repositories/{self.repo_id}/issues"
        )

    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues")
    def list_issues(self, request: Request, owner: str, repo: str) -> Response:
        return self._list(request) if self._ours(owner, repo) else self._not_found()

    @route("GET", r"/repositories/(?P<repo_id>\d+)/issues")
    def list_issues_by_id(self, request: Request, repo_id: str) -> Response:
        return self._list(request) if int(repo_id) == self.repo_id else self._not_found()

    # ---- labels, milestones, assignees --------------------------------------------------------------------

    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/labels")
    def list_labels(self, request: Request, owner: str, repo: str) -> Response:
        if not self._ours(owner, repo):
            return self._not_found()
        return self._page(
            request,
            [self._label_json(lb) for lb in self.labels.values()],
            f"/repositories/{self.repo_id}/labels",
        )

    @route("POST", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/labels")
    def create_label(self, request: Request, owner: str, repo: str) -> Response:
        if not self._ours(owner, repo):
            return self._not_found()
        invalid = self._invalid(request, "/repos/{owner}/{repo}/labels", "post")
        if invalid:
            return invalid
        body = request.json()
        name = str(body["name"])
        if name.casefold() in self.labels:
            return self._failed({"resource": "Label", "code": "already_exists", "field": "name"})
        if len(name) > 50:
            return self._failed(
                {
                    "resource": "Label",
                    "code": "custom",
                    "field": "name",
                    "message": "name is too long (maximum is 50 characters)",
                }
            )
        color = str(body.get("color") or "ededed")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
            return self._failed({"resource": "Label", "code": "invalid", "field": "color"})
        if len(body.get("description") or "") > 100:
            return self._failed(
                {
                    "resource": "Label",
                    "code": "custom",
                    "field": "description",
                    "message": "description is too long (maximum is 100 characters)",
                }
            )
        label = FakeLabel(next(self._ids), name, color.lower(), body.get("description"))
        self.labels[name.casefold()] = label
        return Response(201, self._label_json(label))

    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/milestones")
    def list_milestones(self, request: Request, owner: str, repo: str) -> Response:
        if not self._ours(owner, repo):
            return self._not_found()
        state = request.arg("state", "open")
        found = [self._milestone_json(m) for m in self.milestones.values() if state in ("all", m.state)]
        return self._page(request, found, f"/repositories/{self.repo_id}/milestones")

    @route("POST", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/milestones")
    def create_milestone(self, request: Request, owner: str, repo: str) -> Response:
        if not self._ours(owner, repo):
            return self._not_found()
        invalid = self._invalid(request, "/repos/{owner}/{repo}/milestones", "post")
        if invalid:
            return invalid
        body = request.json()
        if any(m.title == body["title"] for m in self.milestones.values()):
            return self._failed({"resource": "Milestone", "code": "already_exists", "field": "title"})
        due_on = body.get("due_on")
        if due_on is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", due_on):
            return self._failed({"resource": "Milestone", "code": "invalid", "field": "due_on"})
        number = max([*self.milestones, 0]) + 1
        milestone = FakeMilestone(
            number,
            next(self._ids),
            body["title"],
            body.get("description"),
            due_on,
            body.get("state", "open"),
            self.now(),
        )
        self.milestones[number] = milestone
        return Response(201, self._milestone_json(milestone))

    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/assignees/(?P<login>[^/]+)")
    def check_assignee(self, request: Request, owner: str, repo: str, login: str) -> Response:
        if self._ours(owner, repo) and login.casefold() in (c.casefold() for c in self.collaborators):
            return Response(204)
        return self._not_found()

    # ---- search -------------------------------------------------------------------------------------------

    @route("GET", r"/search/issues")
    def search_issues(self, request: Request) -> Response:
        query = request.arg("q") or ""
        if len(query) > 256:
            return self._failed(
                {
                    "message": "The search is longer than 256 characters.",
                    "resource": "Search",
                    "field": "q",
                    "code": "invalid",
                }
            )
        try:
            terms = shlex.split(query)
        except ValueError:
            terms = query.split()
        kinds = {t.split(":", 1)[1] for t in terms if t.startswith(("is:", "type:"))}
        if not kinds & {"issue", "pr", "pull-request"}:
            return self._failed(
                {
                    "message": "Query must include 'is:issue' or 'is:pull-request'",
                    "resource": "Search",
                    "field": "q",
                    "code": "invalid",
                }
            )
        now = time.monotonic()
        found = [
            self._issue_json(i) | {"score": 1.0}
            for i in sorted(self.issues.values(), key=lambda i: -i.number)
            if now - i.created_mono >= self.search_lag and self._matches(i, terms)
        ]
        return self._page(
            request,
            found,
            "/search/issues",
            lambda items: {
                "total_count": len(found),
                "incomplete_results": False,
                "search_type": "lexical",
                "items": items,
            },
        )

    def _matches(self, issue: FakeIssue, terms: list[str]) -> bool:
        text = f"{issue.title}\n{issue.body or ''}".casefold()
        for term in terms:
            qualifier, _, value = term.partition(":")
            if qualifier == "repo" and value:
                if value.casefold() != self.full_name.casefold():
                    return False
            elif qualifier in ("is", "type") and value:
                if value in ("issue", "pr", "pull-request") and issue.pull_request != (value != "issue"):
                    return False
                if value in ("open", "closed") and issue.state != value:
                    return False
            elif qualifier == "state" and value:
                if issue.state != value:
                    return False
            elif qualifier == "label" and value:
                names = {n.casefold() for n in issue.labels}
                if not any(v.strip().casefold() in names for v in value.split(",")):
                    return False
            elif term.casefold() not in text:
                return False
        return True


def github_api(base: str, token: str = TOKEN, *, attempts: int = 5) -> GitHubApi:
    return GitHubApi(
        token,
        api_url=base,
        policy=RetryPolicy(attempts=attempts, base=0.01, max_wait=2.0),
        write_interval=0.0,
    )


class GitHubHarness:
    """The tracker at the fake, plus closing an issue as a person would in GitHub."""

    def __init__(self, tracker: GitHubTracker, fake: GitHubFake) -> None:
        self.tracker = tracker
        self.fake = fake

    def close_in_product(self, key: str) -> None:
        self.fake.close_in_product(int(key.rsplit("#", 1)[1]))


@contextmanager
def github_tracker_harness(folder: Path, people: Directory) -> Iterator[GitHubHarness]:
    """The contract suite's factory: a fake repository whose collaborators are the people's GitHub logins."""
    logins = tuple(login for entry in people.entries if (login := entry.handle("github")))
    fake = GitHubFake(collaborators=logins)
    with serve(fake) as base:
        yield GitHubHarness(GitHubTracker(github_api(base), REPO, directory=people), fake)
