"""Jira (Cloud REST v3, Data Center REST v2) as the TicketTracker.

Idempotency: every issue carries the item key as a label, and a lookup by label comes before every create.
On Cloud that search is eventually consistent, so the ids of issues we created are kept in a small local
file and passed as `reconcileIssues`; a create whose answer was lost is looked up, never resent blindly, and
only created again once the search can be trusted. Every runner converges on the same issue for an item:
if several ever carry one item key, the oldest wins, and a runner that finds it made a newer twin closes it.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ops_postmortem.config import Config
from ops_postmortem.connectors.jira.api import (
    BULK_LIMIT,
    RECONCILE_LIMIT,
    JiraApi,
    JiraError,
    UncertainCreate,
)
from ops_postmortem.connectors.jira.issues import (
    FIELDS,
    ISSUE_KEY,
    LABEL,
    issue_update,
    jql_string,
    refusal,
    to_ticket,
    updated_at,
)
from ops_postmortem.connectors.jira.settings import JiraSettings, auth_fix, read_settings
from ops_postmortem.connectors.jira.state import CreatedIssues
from ops_postmortem.errors import AuthError, RateLimitedError, ServiceError
from ops_postmortem.model import UTC, Ticket, TicketFailure, TicketRequest, iso_z
from ops_postmortem.people import Directory, normalise_name, person_from_text

log = logging.getLogger(__name__)

# How long Jira Cloud's search may lag behind a write (Atlassian: seconds, at worst minutes).
SEARCH_SETTLE = timedelta(minutes=10)
# Our clock and Jira's may disagree; `updated_since` reaches this far back, and sync ignores repeats.
CLOCK_SKEW = timedelta(minutes=5)
# A find() this recent in the same run answers create()'s lookup, so extract costs one search, not two.
LOOKUP_FRESH = timedelta(seconds=60)
# How many issues others may have created in a project between our lookup and our create: their numbers are
# just below ours, so a consistent fetch of these finds a twin created by another runner.
NEIGHBOURS = 100
DUPLICATE_LINK = "Duplicate"
# An Owner cell naming more than one person ("Ana, Bo", "Ana and Bo", "Ana/Bo").
_SEVERAL = re.compile(r"\s(?:and|&|\+)\s|[,;/]|\n")


@dataclass(frozen=True)
class _Pending:
    item_key: str
    request: TicketRequest
    update: dict[str, Any]


class JiraTracker:
    kind = "jira"

    def __init__(
        self,
        api: JiraApi,
        settings: JiraSettings,
        state: CreatedIssues,
        *,
        directory: Directory | None = None,
        clock: Callable[[], datetime] | None = None,
        settle: timedelta | None = None,
    ) -> None:
        self.api = api
        self.settings = settings
        self.state = state
        self.directory = directory
        self._clock = clock or (lambda: datetime.now(UTC))
        # Data Center indexes as it writes; only Cloud's search lags.
        self.settle = settle if settle is not None else SEARCH_SETTLE if settings.cloud else timedelta(0)
        self._owners: dict[str, str | None] = {}
        self._looked_up: dict[str, tuple[datetime, Ticket | None]] = {}

    # ---- TicketTracker ------------------------------------------------------------------------------

    def find(self, item_keys: Sequence[str]) -> dict[str, Ticket]:
        """One search by label per 50 item keys, reconciled with the issues this runner created."""
        keys = list(dict.fromkeys(k for k in item_keys if k))
        found: dict[str, Ticket] = {}
        known = self.state.get(keys)
        for start in range(0, len(keys), RECONCILE_LIMIT):
            chunk = keys[start:start + RECONCILE_LIMIT]
            ids = [int(e.id) for k in chunk if (e := known.get(k)) and e.id and e.id.isdigit()]
            jql = f"labels in ({', '.join(jql_string(k) for k in chunk)}) ORDER BY created ASC"
            oldest: dict[str, int] = {}
            for issue in self.api.search(jql, FIELDS, reconcile=ids if self.settings.cloud else ()):
                ticket = to_ticket(issue, self.settings)
                ident = int(str(issue.get("id", "0")) or 0)
                for item in set(ticket.labels) & set(chunk):
                    if item not in oldest or ident < oldest[item]:
                        oldest[item], found[item] = ident, ticket
            newly = {k: (found[k].key, str(oldest[k])) for k in oldest
                     if (e := known.get(k)) is None or e.key is None}
            if newly:
                self.state.created(newly)
        now = self._clock()
        self._looked_up.update({k: (now, found.get(k)) for k in keys})
        return found

    def create(self, requests: Sequence[TicketRequest]) -> list[Ticket | TicketFailure]:
        """Look up, then one bulk create per 50 new items; results in request order."""
        unique: dict[str, TicketRequest] = {}
        for request in requests:
            unique.setdefault(request.item_key, request)
        outcomes: dict[str, Ticket | TicketFailure] = dict(self._existing(list(unique)))
        waiting = self.state.get(k for k in unique if k not in outcomes)
        now = self._clock()
        pending: list[_Pending] = []
        for item, request in unique.items():
            if item in outcomes:
                continue
            marker = waiting.get(item)
            if marker is not None and marker.uncertain and now - marker.at < self.settle:
                outcomes[item] = TicketFailure(item, _still_uncertain(marker.at + self.settle))
                continue
            assignee = self.resolve_owner(request.owner) if request.owner else None
            if request.owner and assignee is None:
                outcomes[item] = TicketFailure(item, self._unknown_owner(request.owner))
                continue
            pending.append(_Pending(item, request, issue_update(request, self.settings, assignee)))
        for start in range(0, len(pending), BULK_LIMIT):
            outcomes.update(self._send(pending[start:start + BULK_LIMIT]))
        return [outcomes[r.item_key] for r in requests]

    def get(self, keys: Sequence[str]) -> dict[str, Ticket]:
        """Cloud: one bulk fetch (consistent right after a write); Data Center: one search by key."""
        wanted: dict[str, list[str]] = {}
        for key in keys:
            canonical = key.strip().upper()
            if ISSUE_KEY.match(canonical):
                wanted.setdefault(canonical, []).append(key)
        if not wanted:
            return {}
        if self.settings.cloud:
            issues = self.api.fetch(list(wanted), FIELDS)
        else:
            issues = list(self.api.search(f"key in ({', '.join(jql_string(k) for k in wanted)})", FIELDS))
        found: dict[str, Ticket] = {}
        for issue in issues:
            ticket = to_ticket(issue, self.settings)
            for asked in wanted.get(ticket.key, ()):
                found[asked] = ticket
        return found

    def resolve_owner(self, owner: str) -> str | None:
        """The accountId (Cloud) or username (Data Center) of exactly one active user; never a guess."""
        text = owner.strip()
        if text not in self._owners:
            self._owners[text] = self._resolve(text) if text and not _SEVERAL.search(text) else None
        return self._owners[text]

    def updated_since(self, cursor: datetime | None) -> list[Ticket]:
        """One search: postmortem tickets updated since `cursor`, reaching back CLOCK_SKEW for clock drift."""
        jql = f"labels = {jql_string(LABEL)}"
        since = None
        if cursor is not None:
            now = self._clock()
            since = cursor - CLOCK_SKEW
            if since > now:
                return []
            # Relative dates, because JQL reads absolute ones in the account's own time zone.
            jql += f' AND updated >= "-{math.ceil((now - since).total_seconds() / 60) + 1}m"'
        reconcile = [int(e.id) for e in self.state.recent(self.settle, RECONCILE_LIMIT)
                     if e.id and e.id.isdigit()] if self.settings.cloud else []
        tickets: dict[str, Ticket] = {}
        for issue in self.api.search(jql + " ORDER BY updated ASC", FIELDS, reconcile=reconcile):
            changed = updated_at(issue)
            if since is None or changed is None or changed > since:
                ticket = to_ticket(issue, self.settings)
                tickets[ticket.key] = ticket
        return list(tickets.values())

    # ---- creating -----------------------------------------------------------------------------------

    def _existing(self, items: list[str]) -> dict[str, Ticket]:
        """Tickets for these item keys, from a find() moments ago where there was one, else a search."""
        now = self._clock()
        fresh = {k: self._looked_up[k] for k in items
                 if k in self._looked_up and now - self._looked_up[k][0] < LOOKUP_FRESH}
        found = {k: t for k, (_, t) in fresh.items() if t is not None}
        stale = [k for k in items if k not in fresh]
        if stale:
            found.update(self.find(stale))
        return found

    def _send(self, batch: Sequence[_Pending]) -> dict[str, Ticket | TicketFailure]:
        items = [p.item_key for p in batch]
        self.state.sending(items)
        try:
            issues, errors = self.api.create_issues([p.update for p in batch])
        except UncertainCreate as exc:
            return {item: TicketFailure(item, _uncertain(exc)) for item in items}
        except (AuthError, RateLimitedError, ServiceError) as exc:
            self.state.refused(items)  # Jira answered: nothing was created
            return {item: TicketFailure(item, self._refused_all(exc)) for item in items}
        refused: dict[int, JiraError] = {}
        for error in errors:
            number = error.get("failedElementNumber")
            if isinstance(number, int) and 0 <= number < len(batch):
                refused[number] = JiraError.parse(int(error.get("status") or 400), error.get("elementErrors"))
        outcomes: dict[str, Ticket | TicketFailure] = {
            batch[i].item_key: TicketFailure(batch[i].item_key, refusal(error, batch[i].request, self.settings))
            for i, error in refused.items()
        }
        self.state.refused(batch[i].item_key for i in refused)
        accepted = [p for i, p in enumerate(batch) if i not in refused]
        if len(issues) != len(accepted):  # Jira lists the created issues in request order; else we cannot tell
            lost = UncertainCreate("the answer does not say which issue is which", service="jira")
            return outcomes | {p.item_key: TicketFailure(p.item_key, _uncertain(lost)) for p in accepted}
        created = {p.item_key: (str(issue.get("key")), str(issue.get("id")))
                   for p, issue in zip(accepted, issues, strict=True)}
        self.state.created(created)
        for item, ticket in self._read_back(created).items():
            outcomes[item] = ticket
            self._looked_up[item] = (self._clock(), ticket)
        return outcomes

    def _read_back(self, created: Mapping[str, tuple[str, str]]) -> dict[str, Ticket]:
        """The tickets just created, read back; where another runner created one for the same item a moment
        earlier (both looked it up before either created it), theirs wins and ours is closed as its duplicate.

        Issue numbers grow with every create in a project, so the older one can always see the newer: on
        Cloud, whose search lags, by fetching the issues numbered just below ours (a consistent read); on Data
        Center by searching the labels, which is consistent there."""
        winners = {item: (int(ident), key) for item, (key, ident) in created.items()}
        if self.settings.cloud:
            candidates = self.api.fetch(_numbered_below([key for key, _ in created.values()]), ["labels"])
        else:
            candidates = list(self.api.search(
                f"labels in ({', '.join(jql_string(k) for k in created)})", FIELDS))
        for issue in candidates:
            ident = int(str(issue.get("id") or 0))
            for item in set((issue.get("fields") or {}).get("labels") or ()) & set(created):
                if ident < winners[item][0]:
                    winners[item] = (ident, str(issue.get("key")))
        keys = {key for _, key in winners.values()}
        if self.settings.cloud:
            tickets = {t.key: t for t in (to_ticket(i, self.settings) for i in self.api.fetch(sorted(keys), FIELDS))}
        else:
            tickets = {t.key: t for t in (to_ticket(i, self.settings) for i in candidates) if t.key in keys}
        yielded = {item: winner for item, winner in winners.items() if winner[1] != created[item][0]}
        if yielded:
            self.state.created({item: (key, str(ident)) for item, (ident, key) in yielded.items()})
        for item, (_, key) in yielded.items():
            self._close_duplicate(created[item][0], key)
        return {item: tickets[key] for item, (_, key) in winners.items()}

    def _close_duplicate(self, ours: str, theirs: str) -> None:
        """Link our issue as a duplicate of theirs and move it to a done status (preferably one saying so)."""
        try:
            self.api.link(DUPLICATE_LINK, inward=ours, outward=theirs)
            done = [t for t in self.api.transitions(ours)
                    if ((t.get("to") or {}).get("statusCategory") or {}).get("key") == "done"]
            done.sort(key=_closing_preference)
            if done:
                self.api.transition(ours, str(done[0]["id"]))
        except ServiceError as exc:
            # The item is bound to their issue either way; ours stays open until someone closes it.
            log.warning("%s duplicates %s but could not be closed (%s); close it in Jira", ours, theirs, exc)

    def _refused_all(self, exc: ServiceError) -> str:
        if isinstance(exc, AuthError):
            return f"Jira refused the account ({exc.message}): {auth_fix(self.settings)}"
        if isinstance(exc, RateLimitedError):
            return (f"Jira kept rate limiting the create ({exc.message}); nothing was created, "
                    f"the next run tries again")
        return f"Jira refused the create ({exc})"

    # ---- owners -------------------------------------------------------------------------------------

    def _resolve(self, text: str) -> str | None:
        entry = self.directory.lookup(text) if self.directory is not None else None
        if entry is not None and entry.handle("jira"):
            return entry.handle("jira")
        person = person_from_text(text)
        email = (entry.email if entry else None) or person.email
        if email:
            found = self._by_email(email)
            if found is not None or entry is None:
                return found
        return self._by_name(entry.name if entry else person.name)

    def _by_email(self, email: str) -> str | None:
        users = self._active(self.api.find_users(email))
        exact = [u for u in users if str(u.get("emailAddress") or "").casefold() == email.casefold()]
        if len(exact) == 1:
            return self._id(exact[0])
        # Cloud hides e-mail addresses by privacy setting, yet still matches a query by the full address.
        if not exact and len(users) == 1 and not users[0].get("emailAddress"):
            return self._id(users[0])
        return None

    def _by_name(self, name: str) -> str | None:
        wanted = normalise_name(name)
        users = [u for u in self._active(self.api.find_users(name))
                 if wanted in (normalise_name(str(u.get("displayName") or "")),
                               normalise_name(str(u.get("name") or "")))]
        return self._id(users[0]) if len(users) == 1 else None

    def _active(self, users: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        # App and customer accounts can be found but never assigned work.
        return [u for u in users if u.get("active", True) and u.get("accountType", "atlassian") == "atlassian"]

    def _id(self, user: Mapping[str, Any]) -> str | None:
        value = user.get("accountId") if self.settings.cloud else user.get("name")
        return str(value) if value else None

    def _unknown_owner(self, owner: str) -> str:
        handle = "accountId" if self.settings.cloud else "username"
        return (f"owner {owner!r} is not one active Jira user: write their Jira name or e-mail, or map them "
                f"with [people.\"Name\"] jira = \"<{handle}>\"")


def _closing_preference(transition: Mapping[str, Any]) -> int:
    """A step named for duplicates first, then one for work not done, then any done step."""
    name = f"{transition.get('name', '')} {(transition.get('to') or {}).get('name', '')}".casefold()
    return 0 if "duplicate" in name else 1 if re.search(r"won.?t|cancel|reject|obsolete", name) else 2


def _numbered_below(keys: Sequence[str]) -> list[str]:
    """Our keys and the NEIGHBOURS issue keys just below them in each project."""
    numbers: dict[str, list[int]] = {}
    for key in keys:
        project, _, number = key.rpartition("-")
        numbers.setdefault(project, []).append(int(number))
    return [f"{project}-{n}" for project, found in numbers.items()
            for n in range(max(1, min(found) - NEIGHBOURS), max(found) + 1)]


def _uncertain(exc: ServiceError) -> str:
    return (f"Jira gave no answer to the create ({exc.message}); it may have been created, so the next run "
            f"looks it up before creating it again")


def _still_uncertain(after: datetime) -> str:
    return (f"an earlier create got no answer and Jira's search does not show the issue yet; to avoid a "
            f"duplicate it is looked up again, and created only after {iso_z(after)}")


def jira_tracker(config: Config, directory: Directory, default_state: Path) -> JiraTracker:
    """The tracker for `[tracker] kind = "jira"`; the token is read from the environment here."""
    settings, token = read_settings(config, default_state)
    assert settings.state_file is not None
    return JiraTracker(JiraApi.connect(settings, token.reveal()), settings, CreatedIssues(settings.state_file),
                       directory=directory)
