"""Postmortems as Confluence pages (Cloud or Data Center): one page per incident under a parent page.

Each page carries labels (`postmortem`, the incident, the severity) so one CQL search finds them, and a content
property `ops-postmortem` holding the incident id and small facts other runs need (published, reminded, ...).
The page's version number is its revision: every write is a version-checked PUT, and a 409 means someone saved
in between (re-read, re-apply, retry where we own the change; ConflictError where the caller does).
"""

from __future__ import annotations

import base64
import math
import mimetypes
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ops_postmortem.connectors.confluence import blocks as gb
from ops_postmortem.connectors.confluence import comments as threads
from ops_postmortem.connectors.confluence import storage as st
from ops_postmortem.connectors.confluence.api import JSON, ConfluenceApi
from ops_postmortem.connectors.confluence.settings import ConfluenceSettings
from ops_postmortem.connectors.confluence.xhtml import Storage, parse
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.errors import (
    ConfigError,
    ConflictError,
    DocumentError,
    InputError,
    NotFoundError,
    ServiceError,
    UsageError,
)
from ops_postmortem.escaping import escape_storage
from ops_postmortem.model import (
    UTC,
    CellUpdate,
    CommentReply,
    DocChange,
    DocRef,
    Document,
    Person,
    ReviewComment,
    SignOff,
    Timeline,
)
from ops_postmortem.people import normalise_name
from ops_postmortem.render import format_date, render_document
from ops_postmortem.timeutil import parse_time

PROPERTY = "ops-postmortem"
LABEL = "postmortem"
WRITE_ATTEMPTS = 3
# Confluence's search index trails writes by seconds to minutes: a changed_since window reaches back this far
# before the cursor, so a page indexed late is still found (a repeat costs a read, never a missed change).
INDEX_LAG = timedelta(minutes=10)
_PAGE_EXPAND = f"body.storage,version,metadata.properties.{PROPERTY}"
_JIRA_KEY = re.compile(r"^([A-Z][A-Z0-9_]+-\d+)\b(.*)$", re.DOTALL)
_FMT = "storage"


def incident_label(incident_id: str) -> str:
    """Labels are lower case without spaces or colons: INC 2042 -> inc-2042."""
    text = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in incident_id)
    return re.sub(r"-{2,}", "-", text).strip("-").lower() or "incident"


def _cql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tiny_to_id(code: str) -> int:
    """A page id from a tiny link (/x/AbCd): base64 of its little-endian bytes, trailing 'A's dropped."""
    text = code.replace("-", "/").replace("_", "+")
    text += "A" * (-len(text) % 4)  # the dropped 'A's are zero bits, the high bytes of a little-endian number
    return int.from_bytes(base64.b64decode(text), "little")


class ConfluenceStore:
    kind = "confluence"

    def __init__(
        self,
        settings: ConfluenceSettings,
        *,
        api: ConfluenceApi | None = None,
        retry: RetryPolicy | None = None,
        template_dir: Path | None = None,
        jira_macro: bool = False,
    ) -> None:
        self.settings = settings
        self.api = api or ConfluenceApi(settings, retry=retry)
        self.template_dir = template_dir
        self.jira_macro = jira_macro  # Ticket cells show Jira issue macros when Jira is the tracker
        self._people: dict[st.UserRef, Person] = {}  # names looked up once per run

    # ---- references -------------------------------------------------------------------------------

    def _url(self, page_id: str) -> str:
        # The id form stays valid when people rename or move the page.
        return f"{self.api.base_url}/pages/viewpage.action?pageId={page_id}"

    def _ref(self, page: JSON) -> DocRef:
        return DocRef(self.kind, str(page["id"]), self._url(str(page["id"])), str(page.get("title", "")))

    def locate(self, doc: str) -> DocRef:
        """A page URL (any of Confluence's forms), a page id, or an incident id."""
        doc = doc.strip()
        if doc.isdigit():
            try:
                return self._ref(self.api.get_page(doc, "version"))
            except NotFoundError:
                pass  # a number can be an incident id too
        if doc.startswith(("http://", "https://")):
            return self._ref(self._page_from_url(doc))
        found = self.find(doc)
        if found is None:
            raise InputError(
                f"no postmortem for incident {doc!r} in Confluence space {self.settings.space}",
                hint="run `postmortem open` for it first, or give the page's URL or id",
            )
        return found

    def _page_from_url(self, url: str) -> JSON:
        parts = urlsplit(url)
        site = urlsplit(self.api.base_url)
        if parts.netloc.lower() != site.netloc.lower():
            raise InputError(f"{url}: not a page on {site.netloc}", hint="give a page of the site in [confluence] url")
        page_id = (parse_qs(parts.query).get("pageId") or [""])[0]
        if not page_id:
            m = re.search(r"/pages/(?:edit-v2/|edit/)?(\d+)(?:/|$)", parts.path)
            page_id = m.group(1) if m else ""
        if not page_id:
            m = re.search(r"/x/([A-Za-z0-9_-]+)$", parts.path)
            try:
                number = tiny_to_id(m.group(1)) if m else 0
            except ValueError:  # not base64 after all
                number = 0
            page_id = str(number) if number > 0 else ""
        if page_id:
            return self.api.get_page(page_id, "version")
        m = re.search(r"/display/([^/]+)/([^/?#]+)", parts.path)
        if m:
            title = unquote(m.group(2).replace("+", " "))
            page = self.api.page_by_title(unquote(m.group(1)), title, "version")
            if page is not None:
                return page
        raise InputError(f"{url}: not a Confluence page address",
                         hint="use the page's URL (…/pages/123456/… or …viewpage.action?pageId=123456) or its id")

    def find(self, incident_id: str) -> DocRef | None:
        """One CQL search by label; the page's property confirms the incident (labels fold case)."""
        cql = (f"type = page and space = {_cql_string(self.settings.space)} and label = {_cql_string(LABEL)} "
               f"and label = {_cql_string(incident_label(incident_id))}")
        for page in self.api.search(cql, f"version,metadata.properties.{PROPERTY}"):
            if _incident_of(page) == incident_id or (
                    _incident_of(page) is None and str(page.get("title", "")).startswith(f"{incident_id}: ")):
                return self._ref(page)
        return None

    # ---- creating ---------------------------------------------------------------------------------

    def _render(self, timeline: Timeline) -> str:
        fresh = render_document(_FMT, timeline, template_dir=self.template_dir)
        where = "the storage template" if self.template_dir is None else str(self.template_dir / "storage")
        try:
            body = gb.seal(fresh)
            if self.settings.template_page_id is None:
                return body
            team = self.api.get_page(self.settings.template_page_id, "body.storage")
            where = f"template page {self.settings.template_page_id}"
            merged = gb.insert_blocks(parse(_body(team), where=where), parse(body))
            return gb.seal(gb.fill_placeholders(merged, _placeholders(timeline, body)))
        except DocumentError as exc:
            raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from exc

    def create(self, timeline: Timeline) -> DocRef:
        """ONE request creates the page with its labels and property; a failed create is never repeated blindly:
        the page is looked up by its title (a consistent read) before trying again."""
        incident = timeline.incident
        body = self._render(timeline)
        parse(body, where="the rendered postmortem")  # well-formed before it is sent
        title = st.page_title(incident.id, incident.title)
        labels = [LABEL, incident_label(incident.id)]
        if incident.severity:
            labels.append(incident_label(incident.severity))
        started = timeline.moments.impact_started or timeline.moments.detected
        fact: JSON = {"incident": incident.id, "severity": incident.severity,
                "date": str(format_date(started.at)) if started else None, "properties": {}}
        payload: JSON = {
            "type": "page",
            "title": title,
            "space": {"key": self.settings.space},
            "status": "current",
            "body": {"storage": {"value": body, "representation": "storage"}},
            "metadata": {
                "labels": [{"prefix": "global", "name": name} for name in dict.fromkeys(labels)],
                "properties": {PROPERTY: {"key": PROPERTY, "value": fact}},
            },
        }
        if self.settings.parent_id:
            payload["ancestors"] = [{"id": self.settings.parent_id}]
        attempts = 0

        def attempt() -> JSON:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # the last try may have created it before failing
                existing = self.api.page_by_title(self.settings.space, title, f"version,metadata.properties.{PROPERTY}")
                if existing is not None:
                    return self._ours(existing, incident.id, title)
            try:
                return self.api.create_page(payload)
            except ServiceError as exc:
                if exc.status == 400 and "already exists" in str(exc):
                    existing = self.api.page_by_title(self.settings.space, title,
                                                      f"version,metadata.properties.{PROPERTY}")
                    if existing is not None:
                        return self._ours(existing, incident.id, title)
                raise

        page = self.api.retry.call(attempt)
        self._restrict(str(page["id"]))
        return self._ref(page)

    def _ours(self, page: JSON, incident_id: str, title: str) -> JSON:
        if _incident_of(page) in (incident_id, None):
            return page
        raise ConflictError(
            f"a page titled {title!r} already exists in space {self.settings.space} for incident "
            f"{_incident_of(page)!r}",
            hint="rename or move that page, then open again",
        )

    def _restrict(self, page_id: str) -> None:
        """Read and edit restrictions to the configured groups (the account must be in them)."""
        restrictions = []
        for operation, groups in (("read", self.settings.read_groups), ("update", self.settings.edit_groups)):
            if groups:
                restrictions.append({"operation": operation, "restrictions": {
                    "group": [{"type": "group", "name": g} for g in groups]}})
        if restrictions:
            self.api.set_restrictions(page_id, restrictions)

    # ---- reading ----------------------------------------------------------------------------------

    def _page(self, ref: DocRef) -> tuple[JSON, Storage]:
        page = self.api.get_page(ref.id, _PAGE_EXPAND)
        return page, parse(_body(page), where=f"{ref.url}")

    def read(self, ref: DocRef) -> Document:
        page, storage = self._page(ref)
        people = self._lookup(st.user_refs(storage))
        fact = _fact(page)
        doc = st.to_document(storage, ref, title=str(page.get("title", "")), people=people,
                             incident_id=_incident_of(page))
        version = page.get("version") or {}
        return replace(
            doc,
            modified_at=_when(version),
            revision=str(version.get("number", "")),
            incident_date=doc.incident_date or _date(fact.get("date")),
            severity=doc.severity or fact.get("severity") or None,
        )

    def _lookup(self, refs: set[st.UserRef]) -> dict[st.UserRef, Person]:
        """People by their references, each looked up once per run (one bulk call on Cloud)."""
        missing = [r for r in refs if r not in self._people]
        if missing and self.settings.cloud:
            ids = sorted({value for kind, value in missing if kind == "account-id"})
            for found in self.api.users_cloud(ids) if ids else []:
                account = str(found.get("accountId", ""))
                email = found.get("email") or None  # empty when the person hides it
                self._people[("account-id", account)] = Person(
                    str(found.get("displayName") or found.get("publicName") or account), email, account)
        elif missing:
            for kind, value in missing:
                user = (self.api.user_dc(key=value) if kind == "userkey" else self.api.user_dc(username=value))
                if user is not None:
                    self._people[(kind, value)] = threads.dc_person(user)
        for ref in missing:  # unknown or deleted users keep their id as a name, and are not asked for again
            self._people.setdefault(ref, Person(ref[1], account_id=ref[1]))
        return {r: self._people[r] for r in refs}

    def changed_since(self, cursor: datetime | None) -> list[DocChange]:
        """ONE CQL search (paginated): postmortem pages in the space modified since the cursor.

        CQL reads absolute dates in the caller's profile time zone, so the window is relative (`now("-Nm")`)."""
        cql = f"type = page and space = {_cql_string(self.settings.space)} and label = {_cql_string(LABEL)}"
        since = None
        if cursor is not None:
            since = cursor - INDEX_LAG
            minutes = max(1, math.ceil((datetime.now(UTC) - since).total_seconds() / 60) + 2)
            cql += f' and lastmodified >= now("-{minutes}m")'
        changes = []
        for page in self.api.search(cql, "version"):
            modified = _when(page.get("version") or {})
            if modified is not None and (since is None or modified > since):
                changes.append(DocChange(self._ref(page), modified))
        return sorted(changes, key=lambda c: (c.modified_at, c.ref.id))

    # ---- writing the page -------------------------------------------------------------------------

    def _put(self, ref: DocRef, page: JSON, body: str) -> datetime | None:
        """A version-checked update; a 409 (someone saved meanwhile) is a ConflictError."""
        version = int((page.get("version") or {}).get("number", 0))
        payload = {"id": ref.id, "type": "page", "title": page.get("title", ref.title), "status": "current",
                   "version": {"number": version + 1, "minorEdit": True,
                               "message": "updated by ops-postmortem"},
                   "body": {"storage": {"value": body, "representation": "storage"}}}
        try:
            updated = self.api.update_page(ref.id, payload)
        except ServiceError as exc:
            if exc.status == 409:
                raise ConflictError(f"{ref.url}: changed while we were writing it (version {version})",
                                    hint="read it again and retry") from exc
            raise
        return _when(updated.get("version") or {})

    def refresh(self, ref: DocRef, timeline: Timeline, *, force: bool = False) -> bool:
        """Regenerate the timeline and metrics blocks; every byte outside them is kept."""
        fresh = parse(self._render(timeline))
        fresh_blocks = gb.generated_blocks(fresh)
        for attempt in range(WRITE_ATTEMPTS):
            page, current = self._page(ref)
            try:
                edited = gb.edited_blocks(current)
                have = gb.generated_blocks(current)
                updated = gb.replace_generated(current, fresh)
            except DocumentError as exc:
                raise DocumentError(f"{ref.url}: {exc.message}", hint=exc.hint) from exc
            if edited and not force:
                raise DocumentError(
                    f"{ref.url}: the generated section(s) {', '.join(edited)} were edited by hand",
                    hint="move your notes outside the generated anchors, or refresh with --force to drop them",
                )
            same = not edited and all(
                name in have and gb.block_digest(have[name]) == gb.block_digest(block)
                for name, block in fresh_blocks.items())
            if same:
                return False
            try:
                self._put(ref, page, updated)
                return True
            except ConflictError:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
        return False

    def _cell(self, update: CellUpdate) -> str:
        if self.jira_macro:
            m = _JIRA_KEY.match(update.text.strip())
            if m:
                macro = ('<ac:structured-macro ac:name="jira">'
                         f'<ac:parameter ac:name="key">{escape_storage(m.group(1))}</ac:parameter>'
                         "</ac:structured-macro>")
                return macro + escape_storage(m.group(2))
        return st.cell_markup(update.text, update.link)

    def update_cells(
        self, ref: DocRef, updates: Sequence[CellUpdate], *, revision: str | None = None
    ) -> datetime | None:
        page, current = self._page(ref)
        version = str((page.get("version") or {}).get("number", ""))
        if revision is not None and revision != version:
            raise ConflictError(f"{ref.url}: changed since it was read (version {revision}, now {version})",
                                hint="read it again and retry")
        try:
            body = st.set_cells(current.text(), updates, self._cell)
        except DocumentError as exc:
            raise DocumentError(f"{ref.url}: {exc.message}", hint=exc.hint) from exc
        if body == current.text():
            return _when(page.get("version") or {})
        return self._put(ref, page, body)

    def finalize(self, ref: DocRef, signoffs: Sequence[SignOff]) -> None:
        """Status Final and one reviewers-table row per sign-off, keeping the roles people wrote."""
        for attempt in range(WRITE_ATTEMPTS):
            page, current = self._page(ref)
            doc = st.to_document(current, ref, title="", people={})
            table = next((t for t in doc.tables
                          if t.header and normalise_name(t.header[0]) in ("reviewer", "reviewers")), None)
            try:
                body = st.set_status(current.text(), "Final")
                if table is not None:
                    roles = {normalise_name(r[0].text): r[1].text for r in table.rows if len(r) > 1 and r[0].text}
                    rows = [[self._person_markup(s.reviewer), escape_storage(roles.get(
                        normalise_name(s.reviewer.name), "")), "Approved",
                        f'<time datetime="{s.at.date().isoformat()}" />' if s.at else ""] for s in signoffs]
                    body = st.fill_table_rows(body, table.index, rows)
            except DocumentError as exc:
                raise DocumentError(f"{ref.url}: {exc.message}", hint=exc.hint) from exc
            try:
                self._put(ref, page, body)
                return
            except ConflictError:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise

    def _person_markup(self, person: Person) -> str:
        """A user mention when we know the person's Confluence id, else their name."""
        if person.account_id and any(self._people.get((k, person.account_id)) for k in ("account-id", "username")):
            attribute = "ri:account-id" if self.settings.cloud else "ri:username"
            return f'<ac:link><ri:user {attribute}="{escape_storage(person.account_id)}" /></ac:link>'
        return escape_storage(person.name)

    # ---- review -----------------------------------------------------------------------------------

    def comments(self, ref: DocRef) -> list[ReviewComment]:
        if not self.settings.cloud:
            found = threads.dc_threads(self.api.comments_v1(ref.id))
            for person in (p for c in found for p in (c.author, *(r.author for r in c.replies))):
                if person.account_id:  # known by username from here on, e.g. for a mention in finalize
                    self._people.setdefault(("username", person.account_id), person)
            return found
        footer = self.api.comments_v2(ref.id, "footer")
        inline = self.api.comments_v2(ref.id, "inline")
        replies: dict[str, list[JSON]] = {}
        for kind, items in (("footer", footer), ("inline", inline)):
            for item in items:
                replies[str(item["id"])] = list(self._replies_v2(kind, str(item["id"])))
        everything = [*footer, *inline, *(r for rs in replies.values() for r in rs)]
        people = self._lookup({("account-id", a) for a in threads.cloud_author_ids(everything)})
        return threads.cloud_threads(footer, inline, replies, {ref_[1]: p for ref_, p in people.items()})

    def _replies_v2(self, kind: str, comment_id: str) -> Iterator[JSON]:
        """Every reply under a comment, nested ones too (footer threads can nest)."""
        for reply in self.api.replies_v2(kind, comment_id):
            yield reply
            if kind == "footer":
                yield from self._replies_v2(kind, str(reply["id"]))

    def _author(self, item: JSON) -> Person:
        if self.settings.cloud:
            account = str((item.get("version") or {}).get("authorId") or "")
            return self._lookup({("account-id", account)})[("account-id", account)] if account else Person("unknown")
        return threads.dc_person((item.get("history") or {}).get("createdBy"))

    def add_comment(
        self, ref: DocRef, text: str, *, author: str | None = None, quote: str | None = None
    ) -> ReviewComment:
        """A footer comment, or an inline one on `quote`. Confluence records the account that owns the token as
        the author; `author` cannot change that."""
        body = threads.comment_body(text)
        now = datetime.now(UTC)
        if quote:
            _, storage = self._page(ref)
            matches = st.visible_text(storage).count(quote)
            if matches == 0:
                raise InputError(f"{ref.url}: the quoted text is not in the page", hint="quote it exactly")
            if self.settings.cloud:
                item = self.api.create_comment_v2("inline", {
                    "pageId": ref.id, "body": {"representation": "storage", "value": body},
                    "inlineCommentProperties": {"textSelection": quote, "textSelectionMatchCount": matches,
                                                "textSelectionMatchIndex": 0}})
                return ReviewComment(str(item["id"]), self._author(item), _when(item.get("version") or {}) or now,
                                     text, quote, kind="inline")
            made = self.api.create_inline_dc(ref.id, quote, body, 0, matches)
            person = Person(str(made.get("authorDisplayName") or "unknown"),
                            account_id=made.get("authorUserName") or None)
            return ReviewComment(str(made["id"]), person, now, text, quote, kind="inline")
        if self.settings.cloud:
            item = self.api.create_comment_v2("footer", {"pageId": ref.id,
                                                         "body": {"representation": "storage", "value": body}})
        else:
            item = self.api.create_comment_v1({"type": "comment", "container": {"id": ref.id, "type": "page"},
                                               "body": {"storage": {"value": body, "representation": "storage"}}})
        created = _when(item.get("version") or {}) or now
        return ReviewComment(str(item["id"]), self._author(item), created, text, kind="footer")

    def reply(
        self,
        ref: DocRef,
        comment_id: str,
        text: str,
        *,
        author: str | None = None,
        action: Literal["resolve", "reopen"] | None = None,
    ) -> CommentReply:
        """A reply; resolve and reopen set an inline thread's state, and on a footer thread (which Confluence
        cannot resolve) they are the reply's first word."""
        kind, parent = self._parent(ref, comment_id)
        if kind == "footer" and action is not None:
            text = threads.convention_text(action, text)
        made: JSON | None = None
        if text.strip():
            body = threads.comment_body(text)
            if self.settings.cloud:
                made = self.api.create_comment_v2(kind, {"parentCommentId": comment_id,
                                                         "body": {"representation": "storage", "value": body}})
            else:
                made = self.api.create_comment_v1({
                    "type": "comment", "container": {"id": ref.id, "type": "page"},
                    "ancestors": [{"id": comment_id}],
                    "body": {"storage": {"value": body, "representation": "storage"}}})
        if kind == "inline" and action is not None:
            self._set_resolution(ref, comment_id, parent, action == "resolve")
        now = datetime.now(UTC)
        if made is None:
            return CommentReply(f"{comment_id}:{action}", Person("ops-postmortem"), now, text, action)
        return CommentReply(str(made["id"]), self._author(made), _when(made.get("version") or {}) or now, text,
                            action)

    def _parent(self, ref: DocRef, comment_id: str) -> tuple[str, JSON]:
        if not comment_id.isdigit():
            raise UsageError(f"no comment {comment_id!r} on this page", hint="comment ids are numbers; see --list")
        if self.settings.cloud:
            for kind in ("inline", "footer"):
                found = self.api.comment_v2(kind, comment_id)
                if found is not None and str(found.get("pageId", ref.id)) == ref.id:
                    return kind, found
        else:
            try:
                found = self.api.get_page(comment_id, "container,body.storage,extensions.resolution")
            except NotFoundError:
                found = None
            if found is not None and found.get("type") == "comment":
                location = (found.get("extensions") or {}).get("location")
                return ("inline" if location == "inline" else "footer"), found
        raise UsageError(f"no comment {comment_id!r} on this page", hint="see `postmortem comment DOC --list`")

    def _set_resolution(self, ref: DocRef, comment_id: str, parent: JSON, resolved: bool) -> None:
        if not self.settings.cloud:
            self.api.resolve_inline_dc(ref.id, comment_id, resolved)
            return
        if parent.get("resolutionStatus") == "dangling":
            raise UsageError(f"comment {comment_id} is dangling: the text it was on was deleted",
                             hint="it already counts as closed; nothing to resolve or reopen")
        version = int((parent.get("version") or {}).get("number", 1))
        body = ((parent.get("body") or {}).get("storage") or {}).get("value") or "<p />"
        self.api.update_inline_v2(comment_id, {"version": {"number": version + 1},
                                               "body": {"representation": "storage", "value": body},
                                               "resolved": resolved})

    # ---- properties and evidence ------------------------------------------------------------------

    def properties(self, ref: DocRef) -> dict[str, str]:
        prop = self.api.get_property(ref.id, PROPERTY)
        values = ((prop or {}).get("value") or {}).get("properties") if prop else None
        return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}

    def set_properties(self, ref: DocRef, values: Mapping[str, str]) -> None:
        for attempt in range(WRITE_ATTEMPTS):
            prop = self.api.get_property(ref.id, PROPERTY)
            if prop is None:
                self.api.create_property(ref.id, PROPERTY, {"properties": dict(values)})
                return
            value = dict(prop.get("value") or {}) if isinstance(prop.get("value"), dict) else {}
            merged = {**(value.get("properties") or {}), **values}
            version = int((prop.get("version") or {}).get("number", 1)) + 1
            try:
                self.api.update_property(ref.id, PROPERTY, {**value, "properties": merged}, version)
                return
            except ServiceError as exc:
                if exc.status != 409 or attempt == WRITE_ATTEMPTS - 1:
                    raise

    def archive(self, ref: DocRef, files: Mapping[str, bytes]) -> list[str]:
        """Raw evidence as page attachments; a name's folders become `__` (attachment names hold no '/')."""
        existing = {str(a.get("title")): str(a["id"]) for a in self.api.attachments(ref.id)}
        written = []
        for name, data in files.items():
            parts = Path(name).parts
            if not parts or Path(name).is_absolute() or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
                raise InputError(f"evidence name {name!r} is not a plain relative name", hint="use plain names")
            filename = "__".join(parts)
            media_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            self.api.upload(ref.id, filename, data, media_type, existing.get(filename))
            written.append(f"{self.api.base_url}/download/attachments/{ref.id}/{quote(filename)}")
        return written


# ---- helpers -------------------------------------------------------------------------------------


def _body(page: JSON) -> str:
    return str(((page.get("body") or {}).get("storage") or {}).get("value") or "")


def _fact(page: JSON) -> dict[str, Any]:
    props = ((page.get("metadata") or {}).get("properties") or {})
    prop = props.get(PROPERTY) if isinstance(props, dict) else None
    value = prop.get("value") if isinstance(prop, dict) else None
    return value if isinstance(value, dict) else {}


def _incident_of(page: JSON) -> str | None:
    incident = _fact(page).get("incident")
    return str(incident) if incident else None


def _when(version: Mapping[str, Any]) -> datetime | None:
    value = version.get("when") or version.get("createdAt")
    if not value:
        return None
    try:
        return parse_time(str(value))
    except ValueError:
        return None


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _placeholders(timeline: Timeline, body: str) -> dict[str, str]:
    """Values for `{{ name }}` placeholders in a team template page."""
    incident = timeline.incident
    storage = parse(body)
    doc = st.to_document(storage, DocRef("confluence", "", ""), title="", people={})
    return {
        "incident.id": incident.id,
        "incident.title": incident.title,
        "incident.severity": incident.severity or "unknown",
        "incident.status": incident.status,
        "incident.date": doc.incident_date.isoformat() if doc.incident_date else "",
        "incident.authors": ", ".join(p.name for p in incident.authors),
        "incident.reviewers": ", ".join(p.name for p in incident.reviewers),
        "incident.services": ", ".join(incident.services),
    }
