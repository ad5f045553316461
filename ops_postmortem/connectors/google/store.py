"""Postmortems as Google Docs in a Drive folder or shared drive.

Drive `appProperties` (private to this app's Cloud project) tie a doc to its incident, so it is found again
in one `files.list`, and keep a digest of each generated section so a refresh can tell a hand edit. A doc is
created in one upload (our HTML, converted by Drive) or copied from a team template and filled in one
batchUpdate; every later change to a doc is one batchUpdate guarded by the revision it was computed from.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from ops_postmortem.connectors.google.api import DOC_MIME, GoogleApi, Share, retry_safely
from ops_postmortem.connectors.google.blocks import (
    PLAIN_FIELDS,
    Block,
    Grid,
    Para,
    Region,
    Request,
    Run,
    block_text,
    digest,
    insert_blocks,
    parse_html,
    replace_cell,
    section_blocks,
)
from ops_postmortem.connectors.google.document import (
    Layout,
    Paragraph,
    parse_document,
    region_text,
    utf16_len,
)
from ops_postmortem.errors import (
    ConfigError,
    ConflictError,
    DocumentError,
    InputError,
    ServiceError,
    UsageError,
)
from ops_postmortem.escaping import web_url
from ops_postmortem.model import (
    CellUpdate,
    CommentReply,
    DocChange,
    DocRef,
    Document,
    Person,
    ReviewComment,
    SignOff,
    Timeline,
    iso_z,
)
from ops_postmortem.people import normalise_name
from ops_postmortem.render import render_document
from ops_postmortem.timeutil import parse_time

_FMT = "html"
BOT = "ops-postmortem"
# appProperties keys of ours; every other key is a property the workflows set (published, reminded-...).
PROP_KIND = "opspm"
PROP_INCIDENT = "opspm_incident"
PROP_GENERATED = "opspm_gen_"  # + block name: "<digest> <heading>"
PROP_EVIDENCE = "opspm_evidence_for"
PROPERTY_BYTES = 124  # Drive's limit for one property's key and value together
_DOC_URL = re.compile(r"^https://docs\.google\.com/document/(?:u/\d+/)?d/([A-Za-z0-9_-]{10,})")
_DOC_ID = re.compile(r"^[A-Za-z0-9_-]{25,}$")
_META_FIELDS = {"Incident": "incident_id", "Severity": "severity", "Status": "status", "Authors": "authors",
                "Reviewers": "reviewers", "Date": "date", "Paging incident": "paging_incident",
                "Services": "services"}
BLOCK_PLACEHOLDERS = {"timeline": "{{timeline}}", "metrics": "{{metrics}}"}
TABLE_PLACEHOLDERS = {"Action items": "{{action_items}}", "Review and sign-off": "{{reviewers_table}}"}
RECORDED = "Sign-off recorded by ops-postmortem"
WRITE_ATTEMPTS = 3
CLOCK_SKEW = timedelta(minutes=2)


def doc_url(doc_id: str) -> str:
    """The one URL form we store and compare (tickets carry it back to `sync`)."""
    return f"https://docs.google.com/document/d/{doc_id}/edit"


def _q(value: str) -> str:
    """A string literal inside a Drive query."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _has_property(key: str, value: str) -> str:
    return f"appProperties has {{ key={_q(key)} and value={_q(value)} }}"


def _rfc3339(at: datetime) -> str:
    return iso_z(at) or ""


@dataclass(frozen=True)
class Sharing:
    """Who gets access to a new postmortem; never "anyone with the link"."""

    domain: str | None = None
    targets: tuple[str, ...] = ()  # group:EMAIL, user:EMAIL or EMAIL, responders, reviewers; "=role" suffix

    @classmethod
    def parse(cls, domain: str | None, targets: Sequence[str], where: str) -> Sharing:
        for target in targets:
            kind, _, role = target.partition("=")
            if role and role not in ("reader", "commenter", "writer"):
                raise ConfigError(f"{where}: role {role!r} in {target!r} is not reader, commenter or writer")
            name = kind.strip().lower()
            if name in ("anyone", "anyonewithlink") or name.startswith("anyone"):
                raise ConfigError(f"{where}: postmortems are never shared with anyone who has the link",
                                  hint="share with a domain, groups, the responders or the reviewers")
            if name not in ("responders", "reviewers") and "@" not in name:
                raise ConfigError(f"{where}: {target!r} is not group:EMAIL, user:EMAIL, responders or reviewers")
        return cls(domain, tuple(targets))

    def grants(self, timeline: Timeline, url: str) -> list[Share]:
        shares: list[Share] = []
        if self.domain:
            shares.append(Share({"type": "domain", "domain": self.domain, "role": "commenter",
                                 "allowFileDiscovery": False}))
        incident = timeline.incident
        for target in self.targets:
            kind, _, role = target.partition("=")
            kind = kind.strip()
            if kind.lower() == "responders":
                emails = [p.email for p in incident.responders if p.email]
                shares += [Share({"type": "user", "emailAddress": e, "role": role or "writer"}) for e in emails]
            elif kind.lower() == "reviewers":
                message = (f"Please review the postmortem of {incident.id} ({incident.title}) and sign off by "
                           f"commenting LGTM, or comment what needs to change: {url}")
                shares += [Share({"type": "user", "emailAddress": p.email, "role": role or "commenter"},
                                 notify=True, message=message)
                           for p in incident.reviewers if p.email]
            else:
                grantee, _, address = kind.rpartition(":")
                shares.append(Share({"type": "group" if grantee.lower() == "group" else "user",
                                     "emailAddress": address, "role": role or "commenter"}))
        return shares


class GoogleDocsStore:
    kind = "google"

    def __init__(
        self,
        api: GoogleApi,
        *,
        folder_id: str | None = None,
        template_doc_id: str | None = None,
        sharing: Sharing | None = None,
        template_dir: Path | None = None,
    ) -> None:
        self.api = api
        self.folder_id = folder_id
        self.template_doc_id = template_doc_id
        self.sharing = sharing or Sharing()
        self.template_dir = template_dir
        self._layouts: dict[str, Layout] = {}  # doc id -> layout of the revision last read, for write-backs

    # ---- references --------------------------------------------------------------------------------

    def _ref(self, file: Mapping[str, Any]) -> DocRef:
        return DocRef(self.kind, str(file["id"]), doc_url(str(file["id"])), str(file.get("name", "")))

    def locate(self, doc: str) -> DocRef:
        """The URL people share, a bare doc id, or an incident id looked up through appProperties."""
        m = _DOC_URL.match(doc.strip())
        doc_id = m.group(1) if m else doc.strip() if _DOC_ID.fullmatch(doc.strip()) else None
        if doc_id is not None:
            return self._ref(self.api.get_file(doc_id, "id,name,mimeType"))
        found = self.find(doc)
        if found is None:
            raise InputError(f"no Google Docs postmortem for incident {doc!r}",
                             hint="run `postmortem open` for it first, or give the doc's URL or id")
        return found

    def find(self, incident_id: str) -> DocRef | None:
        """One files.list; the oldest doc wins if a race ever made two."""
        found = self._find_file(incident_id)
        return self._ref(found) if found else None

    def _find_file(self, incident_id: str) -> dict[str, Any] | None:
        query = f"{_has_property(PROP_INCIDENT, incident_id)} and mimeType = {_q(DOC_MIME)} and trashed = false"
        files = list(self.api.list_files(query))
        return min(files, key=lambda f: (f.get("createdTime", ""), f["id"])) if files else None

    # ---- creating ------------------------------------------------------------------------------------

    def create(self, timeline: Timeline) -> DocRef:
        incident = timeline.incident
        html = render_document(_FMT, timeline, template_dir=self.template_dir)
        blocks, regions = parse_html(html)
        props = {PROP_KIND: "postmortem", PROP_INCIDENT: incident.id}
        metadata: dict[str, Any] = {"name": f"Postmortem {incident.id}: {incident.title}"[:250]}
        if self.folder_id:
            metadata["parents"] = [self.folder_id]
        if self.template_doc_id:
            file = self._create_from_template(incident.id, blocks, regions, props, metadata)
        else:
            props.update(_generated_props({r.name: (digest(block_text(r.blocks)), r.heading)
                                           for r in regions.values()}))
            metadata.update(mimeType=DOC_MIME, appProperties=_checked(props))
            file = retry_safely(self.api.retry,
                                lambda: self.api.create_file(metadata, html.encode("utf-8"), "text/html"),
                                lambda: self._find_file(incident.id))
        ref = self._ref(file)
        self.api.share(ref.id, self.sharing.grants(timeline, ref.url))
        return ref

    def _create_from_template(
        self, incident_id: str, blocks: Sequence[Block], regions: Mapping[str, Region],
        props: dict[str, str], metadata: dict[str, Any],
    ) -> dict[str, Any]:
        """Copy the team's template into the folder and fill it: placeholders hold fields and tables."""
        assert self.template_doc_id is not None
        template_ref = DocRef(self.kind, self.template_doc_id, doc_url(self.template_doc_id))
        _, layout = parse_document(self.api.get_document(self.template_doc_id), template_ref)
        values = _field_values(blocks)
        inserts: dict[str, tuple[Block, ...]] = {p: regions[n].blocks for n, p in BLOCK_PLACEHOLDERS.items()
                                                 if n in regions}
        for heading, placeholder in TABLE_PLACEHOLDERS.items():
            inserts[placeholder] = tuple(b for b in section_blocks(blocks, heading) if isinstance(b, Grid))
        fill = _TemplateFill(layout, values, inserts)
        generated = {}
        for name, placeholder in BLOCK_PLACEHOLDERS.items():
            found = fill.region_of(placeholder)
            if found is not None:
                generated[name] = found
        props.update(_generated_props(generated))
        metadata["appProperties"] = _checked(props)
        file = retry_safely(self.api.retry, lambda: self.api.copy_file(self.template_doc_id or "", metadata),
                            lambda: self._find_file(incident_id))
        requests = fill.requests()
        if requests:
            self._fill(str(file["id"]), requests, fill)
        return file

    def _fill(self, doc_id: str, requests: Sequence[Request], fill: _TemplateFill) -> None:
        """The one unguarded write (nobody has the new copy yet); after a lost response, look before retrying."""
        try:
            self.api.batch_update(doc_id, requests, revision=None)
        except ServiceError as exc:
            if not exc.retriable:
                raise
            _, layout = parse_document(self.api.get_document(doc_id), DocRef(self.kind, doc_id, doc_url(doc_id)))
            if fill.pending(layout):
                self.api.batch_update(doc_id, requests, revision=layout.revision)

    # ---- refresh --------------------------------------------------------------------------------------

    def refresh(self, ref: DocRef, timeline: Timeline, *, force: bool = False) -> bool:
        """Replace only the generated sections; refuse if one was edited by hand since we wrote it."""
        document = self.api.get_document(ref.id)
        props = self.api.get_file(ref.id, "id,appProperties").get("appProperties", {})
        _, layout = parse_document(document, ref)
        _, regions = parse_html(render_document(_FMT, timeline, template_dir=self.template_dir))
        plans: list[tuple[int, int, str | None, Region]] = []
        edited: list[str] = []
        stored_props: dict[str, tuple[str, str]] = {}
        for name, region in regions.items():
            stored, _, heading = str(props.get(PROP_GENERATED + name, "")).partition(" ")
            heading = heading or region.heading
            bounds = layout.region(heading)
            if bounds is None:
                raise DocumentError(
                    f"{ref.url}: the generated section '{name}' has lost its heading '{heading}'",
                    hint=f"put a heading '{heading}' back above that section (what follows it is regenerated)",
                )
            start, end, tab = bounds
            current = digest(region_text(layout, start, end, tab))
            fresh = digest(block_text(region.blocks))
            if stored and current != stored:
                edited.append(name)
            if current != fresh:
                plans.append((start, end, tab, region))
            stored_props[name] = (fresh, heading)
        if edited and not force:
            raise DocumentError(
                f"{ref.url}: the generated section(s) {', '.join(edited)} were edited by hand",
                hint="move your notes under a heading of their own below it, or refresh with --force to drop them",
            )
        if not plans:
            return False
        requests: list[Request] = []
        for start, end, tab, region in sorted(plans, key=lambda p: p[0], reverse=True):
            if end > start:
                requests.append({"deleteContentRange": {"range": _range(start, end, tab)}})
            requests += insert_blocks(region.blocks, start, tab)
        self.api.batch_update(ref.id, requests, revision=layout.revision)
        self.api.update_file(ref.id, {"appProperties": _checked(_generated_props(stored_props))})
        return True

    # ---- reading and writing ---------------------------------------------------------------------------

    def read(self, ref: DocRef) -> Document:
        document = self.api.get_document(ref.id)
        file = self.api.get_file(ref.id, "id,name,modifiedTime,appProperties")
        doc, layout = parse_document(document, ref)
        self._layouts[ref.id] = layout
        modified = file.get("modifiedTime")
        return replace(
            doc,
            modified_at=parse_time(modified) if modified else None,
            incident_id=file.get("appProperties", {}).get(PROP_INCIDENT) or doc.incident_id,
        )

    def _layout(self, ref: DocRef, revision: str | None) -> Layout:
        cached = self._layouts.get(ref.id)
        if cached is not None and revision is not None and cached.revision == revision:
            return cached
        _, layout = parse_document(self.api.get_document(ref.id), ref)
        self._layouts[ref.id] = layout
        return layout

    def _modified(self, ref: DocRef) -> datetime | None:
        value = self.api.get_file(ref.id, "id,modifiedTime").get("modifiedTime")
        return parse_time(value) if value else None

    def update_cells(
        self, ref: DocRef, updates: Sequence[CellUpdate], *, revision: str | None = None
    ) -> datetime | None:
        """One batchUpdate guarded by `revision` (computed from the read that gave it, when still cached)."""
        layout = self._layout(ref, revision)
        if revision is not None and layout.revision != revision:
            raise ConflictError(f"{ref.url}: changed since it was read", hint="read it again and retry")
        cells: dict[tuple[int, int], tuple[int, int, str | None, CellUpdate]] = {}
        for update in updates:
            if not 0 <= update.table < len(layout.tables):
                raise DocumentError(f"{ref.url}: the document has no table {update.table}",
                                    hint="read the document again; its tables may have been removed")
            table = layout.tables[update.table]
            if not 0 <= update.row < len(table.data_rows) or not 0 <= update.column < table.columns:
                raise DocumentError(f"{ref.url}: table {update.table} has no cell at row {update.row}, column "
                                    f"{update.column}", hint="read the document again; rows may have been removed")
            span = table.rows[table.data_rows[update.row]][update.column]
            cells[(span.content_start, span.content_end)] = (span.content_start, span.content_end, table.tab_id,
                                                             update)
        requests: list[Request] = []
        for start, end, tab, update in sorted(cells.values(), key=lambda c: c[0], reverse=True):
            link = update.link if update.link and web_url(update.link) else None
            requests += replace_cell(start, end, [Run(update.text, link=link)], tab)
        if requests:
            self.api.batch_update(ref.id, requests, revision=layout.revision)
            self._layouts.pop(ref.id, None)
        return self._modified(ref)

    def changed_since(self, cursor: datetime | None) -> list[DocChange]:
        """One files.list over every drive: postmortems modified after `cursor`, oldest first.

        The cursor is this machine's clock and modifiedTime is Drive's, so the search reaches CLOCK_SKEW further
        back: a doc seen twice is extracted idempotently, a doc missed would wait for its next edit."""
        query = f"{_has_property(PROP_KIND, 'postmortem')} and mimeType = {_q(DOC_MIME)} and trashed = false"
        if cursor is not None:
            query += f" and modifiedTime > {_q(_rfc3339(cursor - CLOCK_SKEW))}"
        changes = [DocChange(self._ref(f), parse_time(f["modifiedTime"]))
                   for f in self.api.list_files(query, "id,name,modifiedTime")]
        return sorted(changes, key=lambda c: (c.modified_at, c.ref.id))

    # ---- review ---------------------------------------------------------------------------------------

    def comments(self, ref: DocRef) -> list[ReviewComment]:
        return [_comment(c) for c in self.api.list_comments(ref.id) if not c.get("deleted")]

    def add_comment(
        self, ref: DocRef, text: str, *, author: str | None = None, quote: str | None = None
    ) -> ReviewComment:
        _posting_as_ourselves(author)
        body: dict[str, Any] = {"content": text}
        if quote:
            doc = self.read(ref)
            visible = "\n".join(p.text for p in self._layouts[ref.id].texts)
            if quote not in visible and quote not in doc.title:
                raise InputError(f"{ref.url}: the quoted text is not in the doc", hint="quote it exactly")
            body["quotedFileContent"] = {"mimeType": "text/html", "value": quote}

        def ours() -> dict[str, Any] | None:
            return next((c for c in reversed(list(self.api.list_comments(ref.id)))
                         if c.get("author", {}).get("me") and c.get("content") == text), None)

        return _comment(retry_safely(self.api.retry, lambda: self.api.create_comment(ref.id, body), ours))

    def reply(
        self,
        ref: DocRef,
        comment_id: str,
        text: str,
        *,
        author: str | None = None,
        action: Literal["resolve", "reopen"] | None = None,
    ) -> CommentReply:
        _posting_as_ourselves(author)
        body: dict[str, Any] = {"content": text} if text else {}
        if action:
            body["action"] = action
        if not body:
            raise UsageError("a reply needs TEXT, or --resolve / --reopen")
        before = {r.get("id") for c in self.api.list_comments(ref.id) if c.get("id") == comment_id
                  for r in c.get("replies", [])}

        def ours() -> dict[str, Any] | None:
            for c in self.api.list_comments(ref.id):
                if c.get("id") == comment_id:
                    return next((r for r in c.get("replies", []) if r.get("id") not in before
                                 and r.get("author", {}).get("me")), None)
            return None

        return _reply(retry_safely(self.api.retry, lambda: self.api.create_reply(ref.id, comment_id, body), ours))

    def finalize(self, ref: DocRef, signoffs: Sequence[SignOff]) -> None:
        """Status Final and the reviewers table in one guarded batchUpdate; then a reply recording each approval."""
        for attempt in range(WRITE_ATTEMPTS):
            document = self.api.get_document(ref.id)
            doc, layout = parse_document(document, ref)
            requests = _finalize_requests(ref, doc, layout, signoffs)
            try:
                if requests:
                    self.api.batch_update(ref.id, requests, revision=layout.revision)
                break
            except ConflictError:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
        threads = self.comments(ref)
        for signoff in signoffs:
            if signoff.status != "approved" or signoff.at is None:
                continue
            thread = _approval_thread(threads, signoff)
            note = f"{RECORDED}: {signoff.reviewer.name} approved on {signoff.at.date().isoformat()}."
            if thread is not None and not any(r.text.startswith(f"{RECORDED}: {signoff.reviewer.name} ")
                                              for r in thread.replies):
                self.reply(ref, thread.id, note)

    # ---- properties and evidence -------------------------------------------------------------------------

    def properties(self, ref: DocRef) -> dict[str, str]:
        props = self.api.get_file(ref.id, "id,appProperties").get("appProperties", {})
        return {str(k): str(v) for k, v in props.items() if not str(k).startswith(PROP_KIND)}

    def set_properties(self, ref: DocRef, values: Mapping[str, str]) -> None:
        for key in values:
            if key.startswith(PROP_KIND):
                raise InputError(f"property {key!r} is reserved for ops-postmortem", hint="use another name")
        self.api.update_file(ref.id, {"appProperties": _checked(dict(values))})

    def archive(self, ref: DocRef, files: Mapping[str, bytes]) -> list[str]:
        """Raw evidence in one ZIP beside the doc, in its folder, linked to it by appProperties."""
        for name in files:
            path = PurePosixPath(name)
            if not path.parts or path.is_absolute() or any(p in ("", ".", "..") for p in path.parts):
                raise InputError(f"evidence name {name!r} is not a plain relative name",
                                 hint="use names like pagerduty/log_entries-1.json")
        if not files:
            return []
        query = f"{_has_property(PROP_EVIDENCE, ref.id)} and trashed = false"
        existing = next(iter(self.api.list_files(query)), None)
        members: dict[str, bytes] = {}
        if existing is not None:
            with zipfile.ZipFile(io.BytesIO(self.api.download(existing["id"]))) as old:
                members = {n: old.read(n) for n in old.namelist()}
        members.update(files)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as new:
            for name in sorted(members):
                new.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), members[name])
        data = buffer.getvalue()
        if existing is not None:
            stored = self.api.update_file(existing["id"], {}, media=data, mimetype="application/zip")
        else:
            parents = self.api.get_file(ref.id, "id,name,parents")
            metadata = {"name": f"{parents.get('name') or ref.id} - evidence.zip", "mimeType": "application/zip",
                        "parents": parents.get("parents", []), "appProperties": {PROP_EVIDENCE: ref.id}}
            stored = retry_safely(self.api.retry,
                                  lambda: self.api.create_file(metadata, data, "application/zip"),
                                  lambda: next(iter(self.api.list_files(query)), None))
        link = stored.get("webViewLink") or f"https://drive.google.com/file/d/{stored['id']}/view"
        return [f"{link}#{name}" for name in files]


# ---- helpers -------------------------------------------------------------------------------------------


def _range(start: int, end: int, tab: str | None) -> dict[str, Any]:
    rng: dict[str, Any] = {"startIndex": start, "endIndex": end}
    if tab:
        rng["tabId"] = tab
    return rng


def _generated_props(blocks: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    return {PROP_GENERATED + name: f"{sha} {heading}" for name, (sha, heading) in blocks.items()}


def _checked(props: dict[str, str]) -> dict[str, str]:
    for key, value in props.items():
        if len(key.encode()) + len(value.encode()) > PROPERTY_BYTES:
            raise InputError(f"doc property {key!r} is too long for Drive ({PROPERTY_BYTES} bytes with its value)",
                             hint="shorten the heading or the value")
    return props


def _posting_as_ourselves(author: str | None) -> None:
    if author and normalise_name(author) != normalise_name(BOT):
        raise UsageError(
            f"Google Docs posts comments as the account in the credentials, not as {author!r}",
            hint="reviewers comment in the doc itself; drop --author",
        )


def _person(data: Mapping[str, Any]) -> Person:
    # Drive often leaves out other people's e-mail: people are matched by name, or by permission id.
    return Person(str(data.get("displayName") or data.get("emailAddress") or "unknown"),
                  data.get("emailAddress") or None, data.get("permissionId") or None)


def _reply(data: Mapping[str, Any]) -> CommentReply:
    action = data.get("action")
    return CommentReply(
        id=str(data["id"]),
        author=_person(data.get("author", {})),
        created_at=parse_time(str(data["createdTime"])),
        text=str(data.get("content", "")),
        action=action if action in ("resolve", "reopen") else None,
        deleted=bool(data.get("deleted")),
    )


def _comment(data: Mapping[str, Any]) -> ReviewComment:
    return ReviewComment(
        id=str(data["id"]),
        author=_person(data.get("author", {})),
        created_at=parse_time(str(data["createdTime"])),
        text=str(data.get("content", "")),
        quote=data.get("quotedFileContent", {}).get("value") or None,
        resolved=bool(data.get("resolved")),
        replies=tuple(_reply(r) for r in data.get("replies", []) if not r.get("deleted")),
    )


def _approval_thread(threads: Sequence[ReviewComment], signoff: SignOff) -> ReviewComment | None:
    """The thread holding the post that made this approval (its time and words)."""
    for thread in threads:
        posts = [(thread.created_at, thread.text), *((r.created_at, r.text) for r in thread.replies)]
        if any(at == signoff.at and text.strip() == (signoff.quote or "") for at, text in posts):
            return thread
    return None


def _field_values(blocks: Sequence[Block]) -> dict[str, str]:
    """{{placeholder}} -> text, taken from the metadata lines of our own rendering (one wording)."""
    values: dict[str, str] = {}
    for block in blocks:
        if not isinstance(block, Para):
            continue
        if block.style == "HEADING_1" and "{{title}}" not in values:
            values["{{title}}"] = block.text.removeprefix("Postmortem:").strip()
        label, sep, value = block.text.partition(":")
        if sep and label in _META_FIELDS and "{{" + _META_FIELDS[label] + "}}" not in values:
            values["{{" + _META_FIELDS[label] + "}}"] = " ".join(value.split())
    return values


class _TemplateFill:
    """The fill of a template doc: replaceAllText for fields first, then blocks at placeholder paragraphs,
    at indices shifted by what the replacements changed before them (so chat text is never replaced)."""

    def __init__(self, layout: Layout, values: Mapping[str, str], inserts: Mapping[str, tuple[Block, ...]]) -> None:
        self.layout = layout
        self.values = {k: v.replace("\n", " ") for k, v in values.items()}
        self.inserts = {k: v for k, v in inserts.items() if v}
        self.shifts: list[tuple[int, int]] = []  # (index of a field occurrence, change in length)
        for p in layout.texts:
            for placeholder, value in self.values.items():
                for m in re.finditer(re.escape(placeholder), p.raw):
                    self.shifts.append((p.index_of(m.start()), utf16_len(value) - utf16_len(placeholder)))

    def _shifted(self, index: int) -> int:
        return index + sum(delta for at, delta in self.shifts if at < index)

    def _placeholder(self, placeholder: str, layout: Layout | None = None) -> Paragraph | None:
        return next((p for p in (layout or self.layout).paragraphs if p.raw.strip() == placeholder), None)

    def pending(self, copy: Layout) -> bool:
        """Whether a copy still holds what the fill replaces (so it was not applied)."""
        if self.inserts:
            return any(self._placeholder(key, copy) is not None for key in self.inserts)
        return any(key in p.raw for p in copy.paragraphs for key in self.values)

    def region_of(self, placeholder: str) -> tuple[str, str] | None:
        """(digest, heading) of the section the placeholder's blocks will fill, as it will read back."""
        target = self._placeholder(placeholder)
        if target is None or placeholder not in self.inserts:
            return None
        heading = next((h for h in reversed(self.layout.headings()) if h.start < target.start
                        and h.tab_id == target.tab_id), None)
        if heading is None:
            raise ConfigError(f"the template doc's {placeholder} has no heading above it",
                              hint="put it alone under a heading such as 'Timeline'")
        bounds = self.layout.region(heading.text.strip())
        assert bounds is not None
        start, end, tab = bounds
        texts: list[str] = []
        for p in self.layout.texts:
            if p.tab_id != tab or p.start < start or p.end > end:
                continue
            if p is target:
                texts.append(block_text(self.inserts[placeholder]))
            else:
                text = p.text
                for key, value in self.values.items():
                    text = text.replace(key, value)
                texts.append(text)
        return digest("".join(texts)), heading.text.strip()

    def requests(self) -> list[Request]:
        requests: list[Request] = [
            {"replaceAllText": {"containsText": {"text": k, "matchCase": True}, "replaceText": v}}
            for k, v in self.values.items() if any(k in p.raw for p in self.layout.texts)
        ]
        targets = [(p, self.inserts[key]) for key in self.inserts if (p := self._placeholder(key)) is not None]
        for p, blocks in sorted(targets, key=lambda t: t[0].start, reverse=True):
            start = self._shifted(p.start)
            length = utf16_len(p.raw) - 1
            requests.append({"deleteContentRange": {"range": _range(start, start + length, p.tab_id)}})
            requests += insert_blocks(blocks, start, p.tab_id)
        return requests


def _finalize_requests(ref: DocRef, doc: Document, layout: Layout, signoffs: Sequence[SignOff]) -> list[Request]:
    groups: list[tuple[int, list[Request]]] = []
    found = layout.metadata("Status")
    if found is None:
        raise DocumentError(f"{ref.url}: the document has no Status line in its metadata",
                            hint="add a line 'Status: Draft' under the title")
    paragraph, match = found
    if match.group("value") != "Final":
        start, end = paragraph.index_of(match.start("value")), paragraph.index_of(match.end("value"))
        status: list[Request] = []
        if end > start:
            status.append({"deleteContentRange": {"range": _range(start, end, paragraph.tab_id)}})
        status += [{"insertText": {"location": _location(start, paragraph.tab_id), "text": "Final"}},
                   {"updateTextStyle": {"range": _range(start, start + 5, paragraph.tab_id), "textStyle": {},
                                        "fields": PLAIN_FIELDS}}]
        groups.append((start, status))
    table = next((t for t in doc.tables
                  if t.header and normalise_name(t.header[0]) in ("reviewer", "reviewers")), None)
    if table is not None:
        groups.append((layout.tables[table.index].start,
                       _reviewer_rows(layout, table.index, table.rows, signoffs)))
    return [r for _, requests in sorted(groups, key=lambda g: g[0], reverse=True) for r in requests]


def _location(index: int, tab: str | None) -> dict[str, Any]:
    return {"index": index, "tabId": tab} if tab else {"index": index}


def _reviewer_rows(layout: Layout, index: int, rows: Sequence[Sequence[Any]], signoffs: Sequence[SignOff]) -> list[Request]:
    """Rewrite the reviewers table's data rows: one per sign-off, keeping the roles people wrote."""
    span = layout.tables[index]
    roles = {normalise_name(r[0].text): r[1].text for r in rows if len(r) > 1 and r[0].text}
    wanted = [[s.reviewer.name, roles.get(normalise_name(s.reviewer.name), ""), "Approved",
               s.at.date().isoformat() if s.at else ""] for s in signoffs]
    columns = span.columns
    have = len(span.rows) - 1  # physical data rows, blank ones included
    location = {"tableStartLocation": _location(span.start, span.tab_id), "columnIndex": 0}
    structure: list[Request] = []
    if len(wanted) > have:
        structure += [{"insertTableRow": {"tableCellLocation": {**location, "rowIndex": len(span.rows) - 1},
                                          "insertBelow": True}} for _ in range(len(wanted) - have)]
    for row in range(len(span.rows) - 1, len(wanted), -1):
        structure.append({"deleteTableRow": {"tableCellLocation": {**location, "rowIndex": row}}})
    fills: list[Request] = []
    for j in reversed(range(have, len(wanted))):  # new rows, after the old table end
        row_start = span.end + (j - have) * (1 + 2 * columns)
        for c in reversed(range(min(columns, 4))):
            at = row_start + 2 + 2 * c
            fills += replace_cell(at, at + 1, [Run(wanted[j][c])], span.tab_id)
    for j in reversed(range(min(have, len(wanted)))):
        cells = span.rows[1 + j]
        for c in reversed(range(min(columns, 4))):
            fills += replace_cell(cells[c].content_start, cells[c].content_end, [Run(wanted[j][c])], span.tab_id)
    return structure + fills
