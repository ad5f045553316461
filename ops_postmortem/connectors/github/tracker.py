"""GitHub Issues as the TicketTracker: one issue per action item, found again by its item key.

Idempotency never depends on local state. Every issue carries its item key twice: a label, which the
repository's issue list filters on consistently, and a hidden marker in the body. Before creating, the
item key is looked up (search first, which lags, then the consistent list); after creating, the list is
read again, and when racing runners opened several issues for one key, all agree on the lowest-numbered
one and the others are closed as its duplicates. So any number of runners on any machines converge.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

from ops_postmortem.config import Section
from ops_postmortem.connectors.github.api import DEFAULT_API_URL, GitHubApi, ValidationFailed
from ops_postmortem.connectors.github.issues import (
    LABEL_STYLE,
    POSTMORTEM_LABEL,
    is_pull_request,
    issue_body,
    label_kind,
    label_names,
    labels_for,
    milestone_due_on,
    milestone_title,
    ticket_of,
    winner,
)
from ops_postmortem.errors import AuthError, ConfigError, NotFoundError, ServiceError
from ops_postmortem.escaping import web_url
from ops_postmortem.model import Ticket, TicketFailure, TicketRequest
from ops_postmortem.people import Directory, person_from_text
from ops_postmortem.timeutil import parse_time

Issue = Mapping[str, Any]

# Item keys per search: `label:k1,k2,...` (any of them) stays well inside the 256-character query limit.
SEARCH_CHUNK: Final = 12
# Search lags and may show only some of the issues racing runners just opened; a result is trusted on its
# own only when it is older than any race could be, otherwise the consistent list decides.
SETTLED_AFTER: Final = timedelta(minutes=10)

_REPO: Final = re.compile(r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")
_LOGIN: Final = re.compile(r"^@([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))$")
_KEY: Final = re.compile(r"^\s*(?:([A-Za-z0-9-]+/[A-Za-z0-9._-]+))?#(\d+)\s*$")


class GitHubTracker:
    """Action items as issues in one repository."""

    kind = "github"

    def __init__(
        self,
        api: GitHubApi,
        repo: str,
        *,
        directory: Directory | None = None,
        milestone_per_due_month: bool = False,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not _REPO.match(repo):
            raise ConfigError(f"[github] repo {repo!r} is not 'owner/name'", hint='e.g. repo = "acme/ops"')
        self.api = api
        self.repo = repo
        self.directory = directory
        self.milestone_per_due_month = milestone_per_due_month
        self._now = now
        self._repo_info: Mapping[str, Any] | None = None
        self._assignable: dict[str, bool] = {}
        self._labels: set[str] = set()  # casefolded names known to exist
        self._milestones: dict[str, int] | None = None
        self._absent: set[str] = set()  # item keys the consistent list just showed without an issue

    # ---- TicketTracker ------------------------------------------------------------------------------------

    def find(self, item_keys: Sequence[str]) -> dict[str, Ticket]:
        wanted = list(dict.fromkeys(item_keys))
        if not wanted:
            return {}
        self._repository()
        searched: dict[str, list[Issue]] = {}
        for start in range(0, len(wanted), SEARCH_CHUNK):
            searched.update(self._search(wanted[start : start + SEARCH_CHUNK]))
        found: dict[str, Ticket] = {}
        for key in wanted:
            candidates = searched.get(key, [])
            if not (candidates and all(self._settled(i) for i in candidates)):
                candidates = self._issues_with(key)
            if candidates:
                found[key] = ticket_of(winner(candidates), self.repo)
            else:
                self._absent.add(key)
        return found

    def create(self, requests: Sequence[TicketRequest]) -> list[Ticket | TicketFailure]:
        """One issue per item key, in request order. A refused field fails only its request; an outage
        fails the rest without trying them; bad credentials or a wrong repo stop the batch."""
        outcomes: list[Ticket | TicketFailure] = []
        made: dict[str, Ticket | TicketFailure] = {}
        outage: str | None = None
        for request in requests:
            key = request.item_key
            if key in made:
                outcomes.append(made[key])
                continue
            if outage is not None:
                outcomes.append(TicketFailure(key, f"not tried after an earlier failure: {outage}"))
                continue
            try:
                made[key] = self._create_one(request)
            except ValidationFailed as exc:
                made[key] = TicketFailure(key, self._refusal(exc))
            except (AuthError, NotFoundError):
                raise
            except ServiceError as exc:
                outage = str(exc)
                made[key] = TicketFailure(
                    key,
                    f"{exc}; nothing is known to be created, and the next run "
                    "looks the item up again before creating",
                )
            outcomes.append(made[key])
        return outcomes

    def _refusal(self, exc: ValidationFailed) -> str:
        """GitHub's 422 in words that name the field and the fix."""
        fixes = {
            "assignees": f"the owner's login cannot be assigned in {self.repo}: give them access to the "
            'repository, or correct github = "login" in their [people] entry',
            "title": "shorten the action: GitHub allows 256 characters in a title",
            "body": "shorten the action and its Done when: GitHub allows 65,536 characters in a body",
            "milestone": "the milestone was deleted meanwhile: run again to make it anew",
        }
        found = [fix for field, fix in fixes.items() if any(f".{field}" in e for e in exc.errors)]
        detail = "; ".join(exc.errors) or exc.message
        return f"GitHub refused the issue: {detail}" + (f" ({'; '.join(found)})" if found else "")

    def get(self, keys: Sequence[str]) -> dict[str, Ticket]:
        found: dict[str, Ticket] = {}
        wanted = [(key, n) for key in keys if (n := self._number(key)) is not None]
        if wanted:
            self._repository()
        for key, number in wanted:
            try:
                issue = self.api.get(f"/repos/{self.repo}/issues/{number}")
            except NotFoundError:
                continue
            except ServiceError as exc:
                if exc.status == 410:  # deleted
                    continue
                raise
            if not is_pull_request(issue):
                found[key] = ticket_of(issue, self.repo)
        return found

    def resolve_owner(self, owner: str) -> str | None:
        """The GitHub login of the person an Owner cell names, if they can be assigned in the repository.

        Names and e-mails are mapped through the [people] directory (`github = "login"`); an explicit
        `@login` is taken as written. Nothing else is guessed."""
        text = owner.strip()
        if not text:
            return None
        login = self._login_for(text)
        if login is None:
            return None
        if login not in self._assignable:
            self._assignable[login] = self.api.exists(f"/repos/{self.repo}/assignees/{quote(login)}")
        return login if self._assignable[login] else None

    def updated_since(self, cursor: datetime | None) -> list[Ticket]:
        """Issues labelled `postmortem` updated at or after the cursor, in one paginated list call."""
        params: dict[str, str | int] = {
            "labels": POSTMORTEM_LABEL,
            "state": "all",
            "sort": "updated",
            "direction": "asc",
        }
        if cursor is not None:
            # GitHub keeps whole seconds: round down, so a change in the cursor's own second is not missed.
            params["since"] = cursor.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._repository()
        return [ticket_of(i, self.repo) for i in self._issues(params)]

    # ---- creating -----------------------------------------------------------------------------------------

    def _create_one(self, request: TicketRequest) -> Ticket | TicketFailure:
        key = request.item_key
        assignees: list[str] = []
        if request.owner:
            login = self.resolve_owner(request.owner)
            if login is None:
                return TicketFailure(
                    key,
                    f"owner {request.owner!r} has no GitHub login that can be assigned in "
                    f'{self.repo}: add github = "login" to their [people] entry and give '
                    "them access to the repository",
                )
            assignees.append(login)
        if key in self._absent:
            self._absent.discard(key)  # find() has just looked, consistently
        elif existing := self._issues_with(key):
            return ticket_of(winner(existing), self.repo)
        self._writable()
        labels = labels_for(request)
        self._ensure_labels(labels)
        body: dict[str, Any] = {
            "title": request.title,
            "body": issue_body(request),
            "labels": labels,
            "assignees": assignees,
        }
        if self.milestone_per_due_month and request.due is not None:
            body["milestone"] = self._milestone(request.due)
        return ticket_of(self._settle(key, self._post_issue(key, body)), self.repo)

    def _post_issue(self, key: str, body: Mapping[str, Any]) -> Issue:
        """POST the issue. A retry first looks the key up: an answer lost after the commit (a 500, a
        timeout) must not become a second issue."""
        attempts = 0

        def attempt() -> Issue:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and (existing := self._issues_with(key)):
                return winner(existing)
            issue: Issue = self.api.create(f"/repos/{self.repo}/issues", body)
            return issue

        try:
            return self.api.policy.call(attempt)
        except ServiceError as exc:
            if not exc.retriable:
                raise
            if existing := self._issues_with(key):
                return winner(existing)
            raise

    def _settle(self, key: str, issue: Issue) -> Issue:
        """Read the key's issues again; when another runner's older one exists, close ours as its duplicate."""
        if key.casefold() not in {n.casefold() for n in label_names(issue)}:
            raise AuthError(
                f"GitHub dropped the labels of {self.repo}#{issue['number']}",
                service="github",
                hint=f"the token needs write access to {self.repo}; without it labels, assignees "
                "and milestones are silently dropped and reruns cannot find the issue",
            )
        issues = self._issues_with(key)
        if all(i["number"] != issue["number"] for i in issues):
            issues.append(issue)
        kept = winner(issues)
        if kept["number"] != issue["number"] and issue.get("state") == "open":
            self.api.update(
                f"/repos/{self.repo}/issues/{issue['number']}",
                {
                    "state": "closed",
                    "state_reason": "duplicate",
                    "duplicate_issue_id": kept["id"],
                },
            )
        return kept

    def _ensure_labels(self, names: Sequence[str]) -> None:
        for name in names:
            if name.casefold() in self._labels:
                continue
            colour, description = LABEL_STYLE[label_kind(name)]
            self.api.create_unique(
                f"/repos/{self.repo}/labels", {"name": name, "color": colour, "description": description}
            )
            self._labels.add(name.casefold())

    def _milestone(self, due: date) -> int:
        title = milestone_title(due)
        if self._milestones is None or title not in self._milestones:
            self._milestones = self._load_milestones()
        if title not in self._milestones:
            made = self.api.create_unique(
                f"/repos/{self.repo}/milestones",
                {
                    "title": title,
                    "due_on": milestone_due_on(due),
                    "description": "Postmortem action items due this month (ops-postmortem)",
                },
            )
            if made is None:  # another runner made it a moment ago
                self._milestones = self._load_milestones()
            else:
                self._milestones[title] = int(made["number"])
        if title not in self._milestones:
            raise ServiceError(
                f"milestone {title!r} exists in {self.repo} but is not listed", service="github"
            )
        return self._milestones[title]

    def _load_milestones(self) -> dict[str, int]:
        return {
            str(m["title"]): int(m["number"])
            for m in self.api.paginate(f"/repos/{self.repo}/milestones", {"state": "all"})
        }

    # ---- reading ------------------------------------------------------------------------------------------

    def _search(self, keys: Sequence[str]) -> dict[str, list[Issue]]:
        """Issues search finds labels, ORed by commas, in one query. It is only a shortcut: when it is rate
        limited (30 a minute) or failing, the consistent list answers instead, without waiting."""
        chunk = {k.casefold(): k for k in keys}
        query = f"repo:{self.repo} is:issue label:{','.join(chunk.values())}"
        found: dict[str, list[Issue]] = {}
        try:
            for issue in self.api.paginate("/search/issues", {"q": query}, key="items", retry=False):
                for name in label_names(issue):
                    if name.casefold() in chunk:
                        found.setdefault(chunk[name.casefold()], []).append(issue)
        except AuthError:
            raise
        except ServiceError:
            return {}
        return found

    def _issues_with(self, key: str) -> list[Issue]:
        """Every issue carrying the item-key label, from the repository's list (consistent, unlike search)."""
        return [
            i
            for i in self._issues({"labels": key, "state": "all"})
            if key.casefold() in {n.casefold() for n in label_names(i)}
        ]

    def _issues(self, params: Mapping[str, str | int]) -> Iterator[Issue]:
        for issue in self.api.paginate(f"/repos/{self.repo}/issues", params):
            if not is_pull_request(issue):  # the issues list includes pull requests
                yield issue

    def _settled(self, issue: Issue) -> bool:
        created = issue.get("created_at")
        return bool(created) and self._now() - parse_time(str(created)) >= SETTLED_AFTER

    def _repository(self) -> Mapping[str, Any]:
        """The repository, once per run: a wrong name fails here, clearly, not as a missing ticket."""
        if self._repo_info is None:
            info: Mapping[str, Any] = self.api.get(f"/repos/{self.repo}")
            if info.get("has_issues") is False:
                raise ServiceError(
                    f"issues are turned off in {self.repo}",
                    service="github",
                    hint="turn Issues on in the repository's settings, or set [github] repo",
                )
            self._repo_info = info
        return self._repo_info

    def _writable(self) -> None:
        permissions = self._repository().get("permissions")
        # App installation tokens get no `permissions` here; a refused write then says so itself.
        if isinstance(permissions, dict) and not permissions.get("push", True):
            raise AuthError(
                f"the token cannot write to {self.repo}",
                service="github",
                hint="GitHub silently drops the labels that make reruns find an issue; use a token "
                "of someone with write access, or a GitHub App with Issues read and write",
            )

    def _login_for(self, text: str) -> str | None:
        explicit = _LOGIN.match(text)
        if explicit:
            return explicit.group(1)
        if self.directory is None:
            return None
        entry = self.directory.entry_for(person_from_text(text))
        return entry.handle("github") if entry is not None else None

    def _number(self, key: str) -> int | None:
        match = _KEY.match(key)
        if match is None or (match.group(1) and match.group(1).casefold() != self.repo.casefold()):
            return None
        return int(match.group(2))


def github_tracker(section: Section, directory: Directory) -> GitHubTracker:
    """The tracker from the `[github]` section of the config."""
    repo = section.string("repo", required=True)
    assert repo is not None
    token = section.secret("token", required=True)
    assert token is not None
    api_url = section.string("api_url", DEFAULT_API_URL) or DEFAULT_API_URL
    if not web_url(api_url):
        raise ConfigError(
            f"{section.where('api_url')} = {api_url!r} is not an http(s) URL",
            hint="https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server",
        )
    interval = section.duration("write_interval", "1s").total_seconds()
    api = GitHubApi(token.reveal(), api_url=api_url, write_interval=interval)
    return GitHubTracker(
        api, repo, directory=directory, milestone_per_due_month=section.flag("milestone_per_due_month")
    )
