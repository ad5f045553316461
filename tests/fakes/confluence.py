"""A stateful fake Confluence on 127.0.0.1: Cloud (`/wiki/rest/api/...` v1 and `/wiki/api/v2/...`) or Data Center
(`/rest/api/...`), following the published specs in ../shared/specs/confluence.

What it checks like the service: request bodies against the spec's component schemas (a body that does not fit gets
the service's 400 error body), storage bodies are well-formed XHTML (else "Error parsing xhtml"), page titles are
unique in a space, a PUT must carry the current version + 1 (else 409 with the real message), CQL is parsed (the
clauses we use), and lists really paginate (v1 `start`/`limit` on Data Center and `cursor` on Cloud, with
`_links.next` relative to `_links.base`; v2 `cursor` with `_links.next` under /wiki and a Link header). It also
normalises storage on save as Confluence does (macro ids on every macro; `<br />` on Cloud), so readers must not
depend on our own bytes. 429 and 5xx come from `fail_next`.

Data Center's inline-comment endpoints (`/rest/inlinecomments/1.0/...`) are not in any published spec: they are what
the Confluence web UI calls and what atlassian-python-api's `add_inline_comment`/`resolve_inline_comment` use; their
shapes here follow that library and atlassian-python-api issue #1675.

People act through `human_*` methods (the product UI), never through the API our code uses.
"""

from __future__ import annotations

import base64
import html
import html.entities
import itertools
import json
import re
import uuid
import xml.parsers.expat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

import jsonschema

from tests.conftest import SPECS
from tests.fakes.server import FakeService, Request, Response, route

SPEC_DIR = SPECS / "confluence"
CLOUD_TOKEN = "cloud-api-token"
DC_TOKEN = "dc-personal-access-token"
BOT_EMAIL = "bot@acme.test"
_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}


# ---- schemas from the published specs ------------------------------------------------------------


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> JSON Schema: `nullable` becomes a null type, refs point into the document."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_jsonschema(v) for k, v in node.items() if k not in ("example", "xml", "discriminator")}
    if "oneOf" in out:  # the specs' alternatives overlap (no additionalProperties: false), so read them as anyOf
        out["anyOf"] = out.pop("oneOf")
    if out.pop("nullable", False) is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "type" not in out and ("$ref" in out or "anyOf" in out or "allOf" in out):
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@lru_cache(maxsize=8)
def _spec(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SPEC_DIR / name).read_text())
    return data


@lru_cache(maxsize=64)
def validator(spec: str, pointer: str) -> jsonschema.Draft7Validator:
    """A validator for the schema at `pointer` (e.g. "#/components/schemas/ContentCreate") in a spec file."""
    document = _spec(spec)
    root = {"components": _openapi_to_jsonschema(document["components"]), "$ref": pointer}
    return jsonschema.Draft7Validator(root)


V1_CLOUD = "swagger.v3.json"
V2_CLOUD = "openapi-v2.v3.json"
V1_DC = "confluence-dc-10.0.3-openapi.json"


# ---- storage format, as the service checks and normalises it ---------------------------------------

_ENTITIES = "".join(f'<!ENTITY {n} "&#{c};">' for n, c in html.entities.name2codepoint.items()
                    if n not in ("amp", "lt", "gt", "quot", "apos"))
_WRAP = (f'<!DOCTYPE x [{_ENTITIES}]><x xmlns:ac="http://atlassian.com/content" '
         'xmlns:ri="http://atlassian.com/resource/identifier">')


def xhtml_error(body: str) -> str | None:
    """Confluence's message for a storage body that is not well-formed, or None."""
    parser = xml.parsers.expat.ParserCreate("utf-8")
    try:
        parser.Parse((_WRAP + body + "</x>").encode(), True)
    except xml.parsers.expat.ExpatError as exc:
        return (f"Error parsing xhtml: {xml.parsers.expat.ErrorString(exc.code)}\n at [row,col {{unknown-source}}]: "
                f"[{exc.lineno},{exc.offset}]")
    return None


_MACRO_START = re.compile(r"<ac:structured-macro\b(?![^>]*\bac:macro-id=)")


def normalise_storage(body: str, cloud: bool) -> str:
    """What Confluence does to a body on save that matters to readers: ids on macros, `<br />` on Cloud."""
    body = _MACRO_START.sub(lambda m: f'{m.group(0)} ac:schema-version="1" ac:macro-id="{uuid.uuid4()}"', body)
    return body.replace("<br/>", "<br />") if cloud else body


_TAG = re.compile(r"<[^>]*>")


def visible_text(body: str) -> str:
    """The text a reader sees (the fake's own, deliberately simple rendering)."""
    body = re.sub(r"<ac:parameter[^>]*>.*?</ac:parameter>", "", body, flags=re.DOTALL)
    body = re.sub(r"</(p|li|td|th|tr|h\d)>|<br ?/>", "\n", body)
    return html.unescape(_TAG.sub("", body).replace("<![CDATA[", "").replace("]]>", ""))


# ---- state --------------------------------------------------------------------------------------


@dataclass
class User:
    key: str  # account id on Cloud, username on Data Center
    display: str
    email: str  # "" when the user hides it (Cloud privacy setting)
    userkey: str = ""


@dataclass
class Property:
    id: str
    key: str
    value: Any
    version: int = 1


@dataclass
class Attachment:
    id: str
    name: str
    data: bytes
    media_type: str
    version: int = 1


@dataclass
class Page:
    id: str
    title: str
    space: str
    parent: str | None
    body: str
    author: str
    created: datetime
    version: int = 1
    when: datetime = field(default_factory=lambda: datetime.now(UTC))
    by: str = ""
    labels: list[str] = field(default_factory=list)
    properties: dict[str, Property] = field(default_factory=dict)
    attachments: dict[str, Attachment] = field(default_factory=dict)
    restrictions: dict[str, list[str]] = field(default_factory=dict)  # operation -> group names


@dataclass
class Comment:
    id: str
    page: str
    parent: str | None
    location: str  # footer | inline
    body: str
    author: str
    created: datetime
    version: int = 1
    when: datetime = field(default_factory=lambda: datetime.now(UTC))
    resolution: str = "open"  # inline roots: open | resolved | reopened | dangling
    resolution_by: str | None = None
    resolution_at: datetime | None = None
    marker: str | None = None
    selection: str | None = None
    status: str = "current"


class FakeConfluence(FakeService):
    """One site. `flavour` is "cloud" (context /wiki, account ids, v2) or "datacenter" (usernames, v1 only)."""

    def __init__(self, flavour: str = "cloud", *, page_size: int = 25) -> None:
        super().__init__()
        self.flavour = flavour
        self.cloud = flavour == "cloud"
        self.context = "/wiki" if self.cloud else ""
        self.page_size = page_size  # the service's cap on `limit`
        self.base_url = ""  # set by the test after serve(): http://127.0.0.1:PORT
        self.ids = itertools.count(65537)
        self.users: dict[str, User] = {}
        self.spaces = {"PM": {"id": 98765, "key": "PM", "name": "Postmortems", "type": "global", "status": "current"}}
        self.pages: dict[str, Page] = {}
        self.comments: dict[str, Comment] = {}
        self._clock = datetime.now(UTC)
        self._before: list[tuple[str, str, Any]] = []
        self.bot = self.add_user("ops-postmortem", BOT_EMAIL, key="557058:b0t" if self.cloud else "ops-postmortem")
        for name, email in (("Dana Kim", "dana@acme.test"), ("Alex Chen", "alex@acme.test"),
                            ("Priya Raman", ""), ("José Núñez", "jose@acme.test")):
            self.add_user(name, email)
        self.tz = UTC if self.cloud else timezone(timedelta(hours=1))  # Data Center answers in server time
        parent = self._new_page("Postmortems", "PM", None, "<p>All postmortems live below this page.</p>",
                                self.bot.key)
        self.parent_id = parent.id

    # -- people and time --------------------------------------------------------------------------

    def add_user(self, name: str, email: str, *, key: str | None = None) -> User:
        slug = re.sub(r"[^a-z]", "", name.lower().split()[0]) or "user"
        if key is None:
            key = f"712020:{slug}-{uuid.uuid5(uuid.NAMESPACE_DNS, name)}" if self.cloud else slug
        user = User(key, name, email, userkey=f"8a7f80{abs(hash(key)) % 10**10:010d}")
        self.users[key] = user
        return user

    def user_named(self, name: str) -> User:
        return next(u for u in self.users.values() if u.display == name)

    def now(self) -> datetime:
        """Strictly increasing, a millisecond apart at least, so versions have distinct times."""
        current = datetime.now(UTC).replace(microsecond=datetime.now(UTC).microsecond // 1000 * 1000)
        self._clock = max(current, self._clock + timedelta(milliseconds=1))
        return self._clock

    def stamp(self, when: datetime) -> str:
        local = when.astimezone(self.tz)
        text = local.isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z") if self.cloud else text

    # -- hooks for tests --------------------------------------------------------------------------

    def before_next(self, method: str, path: str, action: Any) -> None:
        """Run `action()` (e.g. a person's edit) just before the next matching request is served."""
        self._before.append((method, path, action))

    def dispatch(self, request: Request) -> Response:
        with self.lock:
            for hook in list(self._before):
                if hook[0] == request.method and re.search(hook[1], request.path):
                    self._before.remove(hook)
                    hook[2]()
                    break
            self._current = request
            return super().dispatch(request)

    def error_body(self, status: int) -> Any:
        request = getattr(self, "_current", None)
        if request is not None and "/api/v2/" in request.path:
            return v2_error(status, f"injected {status}")
        return v1_error(status, "Rate limit exceeded." if status == 429 else f"injected {status}")

    def not_found(self, request: Request) -> Response:
        if "/api/v2/" in request.path:
            return Response(404, v2_error(404, "Not Found"))
        return Response(404, v1_error(404, f"null for uri: {request.path}"))

    # -- auth -------------------------------------------------------------------------------------

    def _caller(self, request: Request) -> User | None:
        header = request.headers.get("authorization", "")
        if self.cloud and header.startswith("Basic "):
            email, _, token = base64.b64decode(header[6:]).decode().partition(":")
            if email == BOT_EMAIL and token == CLOUD_TOKEN:
                return self.bot
        if not self.cloud and header == f"Bearer {DC_TOKEN}":
            return self.bot
        return None

    def _auth(self, request: Request) -> Response | None:
        if self._caller(request) is None:
            return Response(401, v1_error(401, "Client must be authenticated to access this resource."))
        return None

    # -- shapes ----------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"{self.base_url}{self.context}"

    def user_json(self, key: str) -> dict[str, Any]:
        user = self.users[key]
        picture = {"path": "/images/icons/profilepics/default.svg", "width": 48, "height": 48, "isDefault": True}
        if self.cloud:
            return {"type": "known", "accountId": user.key, "accountType": "atlassian", "email": user.email,
                    "publicName": user.display, "displayName": user.display, "profilePicture": picture,
                    "isExternalCollaborator": False,
                    "_links": {"self": f"{self.base}/rest/api/user?accountId={user.key}"}}
        return {"type": "known", "username": user.key, "userKey": user.userkey, "displayName": user.display,
                "profilePicture": picture, "_links": {"self": f"{self.base}/rest/api/user?key={user.userkey}"}}

    def version_json(self, number: int, when: datetime, by: str) -> dict[str, Any]:
        return {"by": self.user_json(by), "when": self.stamp(when), "friendlyWhen": "just a moment ago",
                "message": "", "number": number, "minorEdit": False,
                "_links": {"self": f"{self.base}/rest/experimental/content/x/version/{number}"}}

    def page_links(self, page: Page) -> dict[str, str]:
        slug = quote(page.title.replace(" ", "+"), safe="+")
        webui = f"/spaces/{page.space}/pages/{page.id}/{slug}" if self.cloud else f"/display/{page.space}/{slug}"
        return {"webui": webui, "edit": f"/pages/resumedraft.action?draftId={page.id}",
                "tinyui": f"/x/{tiny(int(page.id))}", "self": f"{self.base}/rest/api/content/{page.id}",
                "base": self.base, "context": self.context, "collection": "/rest/api/content"}

    def page_json(self, page: Page, expand: set[str]) -> dict[str, Any]:
        data: dict[str, Any] = {"id": page.id, "type": "page", "status": "current", "title": page.title}
        expandable: dict[str, str] = {}
        if "space" in expand:
            data["space"] = {**self.spaces[page.space], "_expandable": {"homepage": "", "metadata": ""},
                             "_links": {"webui": f"/spaces/{page.space}", "self": f"{self.base}/rest/api/space/"
                                                                                  f"{page.space}"}}
        else:
            expandable["space"] = f"/rest/api/space/{page.space}"
        if "history" in expand:
            data["history"] = {"latest": True, "createdBy": self.user_json(page.author),
                               "createdDate": self.stamp(page.created)}
        if "version" in expand:
            data["version"] = self.version_json(page.version, page.when, page.by or page.author)
        else:
            expandable["version"] = ""
        if "ancestors" in expand:
            data["ancestors"] = [{"id": p, "type": "page", "status": "current", "title": self.pages[p].title}
                                 for p in self._lineage(page)]
        if "body.storage" in expand:
            data["body"] = {"storage": {"value": page.body, "representation": "storage", "embeddedContent": [],
                                        "_expandable": {"content": f"/rest/api/content/{page.id}"}},
                            "_expandable": {"view": "", "export_view": "", "styled_view": ""}}
        else:
            expandable["body"] = ""
        metadata: dict[str, Any] = {}
        if "metadata.labels" in expand:
            metadata["labels"] = {"results": [{"prefix": "global", "name": n, "id": str(abs(hash(n)) % 10**6),
                                               "label": n} for n in page.labels],
                                  "start": 0, "limit": 200, "size": len(page.labels)}
        wanted = {e.split(".", 2)[2] for e in expand if e.startswith("metadata.properties.")}
        if wanted:
            metadata["properties"] = {k: self.property_json(page, page.properties[k]) for k in sorted(wanted)
                                      if k in page.properties}
            metadata["properties"]["_expandable"] = {}
        if metadata:
            data["metadata"] = metadata
        data["extensions"] = {"position": "none"}
        data["_expandable"] = expandable
        data["_links"] = self.page_links(page)
        return data

    def property_json(self, page: Page, prop: Property) -> dict[str, Any]:
        return {"id": prop.id, "key": prop.key, "value": prop.value,
                "version": {"when": self.stamp(page.when), "message": "", "number": prop.version,
                            "minorEdit": False},
                "_links": {"self": f"{self.base}/rest/api/content/{page.id}/property/{prop.key}"},
                "_expandable": {"content": f"/rest/api/content/{page.id}"}}

    def comment_v1(self, comment: Comment, expand: set[str]) -> dict[str, Any]:
        page = self.pages[comment.page]
        data: dict[str, Any] = {"id": comment.id, "type": "comment", "status": comment.status,
                                "title": f"Re: {page.title}"}
        if "history" in expand:
            data["history"] = {"latest": True, "createdBy": self.user_json(comment.author),
                               "createdDate": self.stamp(comment.created)}
        if "version" in expand:
            data["version"] = self.version_json(comment.version, comment.when, comment.author)
        if "container" in expand:
            data["container"] = {"id": page.id, "type": "page", "status": "current", "title": page.title}
        if "ancestors" in expand:
            data["ancestors"] = [{"id": a, "type": "comment", "status": "current"} for a in self._thread(comment)]
        if "body.storage" in expand:
            data["body"] = {"storage": {"value": comment.body, "representation": "storage"}}
        extensions: dict[str, Any] = {"location": comment.location}
        if comment.location == "inline" and comment.parent is None:
            if "extensions.inlineProperties" in expand:
                extensions["inlineProperties"] = {"markerRef": comment.marker, "originalSelection": comment.selection}
            if "extensions.resolution" in expand:
                extensions["resolution"] = {
                    "status": comment.resolution,
                    "lastModifier": self.user_json(comment.resolution_by or comment.author),
                    "lastModifiedDate": self.stamp(comment.resolution_at or comment.created),
                }
        data["extensions"] = extensions
        data["_links"] = {"webui": f"/pages/viewpage.action?pageId={page.id}&focusedCommentId={comment.id}"
                                   f"#comment-{comment.id}",
                          "self": f"{self.base}/rest/api/content/{comment.id}"}
        return data

    def comment_v2(self, comment: Comment, body_format: str | None) -> dict[str, Any]:
        data: dict[str, Any] = {"id": comment.id, "status": comment.status,
                                "title": f"Re: {self.pages[comment.page].title}", "pageId": comment.page,
                                "version": {"createdAt": self.stamp(comment.when), "message": "",
                                            "number": comment.version, "minorEdit": False,
                                            "authorId": comment.author}}
        if comment.parent is not None:
            data["parentCommentId"] = comment.parent
        if body_format == "storage":  # bodies only on request (CONFCLOUD-77788)
            data["body"] = {"storage": {"representation": "storage", "value": comment.body}}
        if comment.location == "inline":
            data["resolutionStatus"] = comment.resolution
            data["properties"] = {"inlineMarkerRef": comment.marker, "inlineOriginalSelection": comment.selection}
        data["_links"] = {"webui": f"/spaces/PM/pages/{comment.page}?focusedCommentId={comment.id}"}
        return data

    def _lineage(self, page: Page) -> list[str]:
        chain: list[str] = []
        parent = page.parent
        while parent is not None:
            chain.insert(0, parent)
            parent = self.pages[parent].parent
        return chain

    def _thread(self, comment: Comment) -> list[str]:
        chain: list[str] = []
        parent = comment.parent
        while parent is not None:
            chain.insert(0, parent)
            parent = self.comments[parent].parent
        return chain

    # -- v1: content --------------------------------------------------------------------------------

    def _v1_invalid(self, request: Request, cloud_schema: str, dc_schema: str) -> Response | None:
        body = request.json()
        spec, pointer = (V1_CLOUD, cloud_schema) if self.cloud else (V1_DC, dc_schema)
        errors = sorted(validator(spec, pointer).iter_errors(body), key=lambda e: list(e.path))
        if errors:
            where = ".".join(str(p) for p in errors[0].path) or "body"
            return Response(400, v1_error(400, f"{where}: {errors[0].message}", valid=False))
        return None

    @route("POST", r"(?:/wiki)?/rest/api/content/?")
    def create_content(self, request: Request) -> Response:
        if (denied := self._auth(request)) or (denied := self._v1_invalid(
                request, "#/components/schemas/ContentCreate", "#/components/schemas/Content")):
            return denied
        body = request.json()
        kind = body.get("type")
        if kind not in ("page", "comment"):
            return Response(400, v1_error(400, f"Unsupported content type: {kind}"))
        storage = ((body.get("body") or {}).get("storage") or {})
        if storage.get("representation") != "storage":
            return Response(400, v1_error(400, "Unsupported content representation"))
        error = xhtml_error(storage.get("value", ""))
        if error:
            return Response(400, v1_error(400, error))
        if kind == "comment":
            return self._create_comment_v1(request, body)
        space = (body.get("space") or {}).get("key")
        if space not in self.spaces:
            return Response(404, v1_error(404, f"No space with key : {space}"))
        title = (body.get("title") or "").strip()
        if not title:
            return Response(400, v1_error(400, "Content title cannot be empty"))
        if any(p.title.casefold() == title.casefold() and p.space == space for p in self.pages.values()):
            return Response(400, v1_error(400, "A page with this title already exists: A page already exists "
                                               "with the same TITLE in this space"))
        ancestors = body.get("ancestors") or []
        parent = str(ancestors[-1]["id"]) if ancestors else None
        if parent is not None and parent not in self.pages:
            return Response(404, v1_error(404, f"No parent content found with id: ContentId{{id={parent}}}"))
        page = self._new_page(title, space, parent, storage["value"], self.bot.key)
        metadata = body.get("metadata") or {}
        for label in metadata.get("labels") or []:
            name = label["name"] if isinstance(label, dict) else str(label)
            if not re.fullmatch(r"[^\s:]+", name):
                return Response(400, v1_error(400, f"Invalid label: {name}"))
            page.labels.append(name.lower())
        for key, prop in (metadata.get("properties") or {}).items():
            page.properties[key] = Property(str(next(self.ids)), prop.get("key", key), prop.get("value"))
        return Response(200, self.page_json(page, {"space", "history", "version"}))

    def _new_page(self, title: str, space: str, parent: str | None, body: str, author: str) -> Page:
        now = self.now()
        page = Page(str(next(self.ids)), title, space, parent, normalise_storage(body, self.cloud), author, now,
                    when=now, by=author)
        self.pages[page.id] = page
        return page

    def _create_comment_v1(self, request: Request, body: dict[str, Any]) -> Response:
        container = str((body.get("container") or {}).get("id", ""))
        if container not in self.pages:
            return Response(404, v1_error(404, f"No content found with id: ContentId{{id={container}}}"))
        ancestors = body.get("ancestors") or []
        parent = str(ancestors[-1]["id"]) if ancestors else None
        if parent is not None and parent not in self.comments:
            return Response(404, v1_error(404, f"No parent comment found with id: {parent}"))
        if (body.get("extensions") or {}).get("location") == "inline":
            return Response(400, v1_error(400, "Could not create content with type comment", authorized=False))
        location = self.comments[parent].location if parent else "footer"
        comment = self._new_comment(container, parent, location, body["body"]["storage"]["value"], self.bot.key)
        return Response(200, self.comment_v1(comment, {"history", "version", "container", "body.storage"}))

    def _new_comment(self, page: str, parent: str | None, location: str, body: str, author: str,
                     selection: str | None = None) -> Comment:
        now = self.now()
        comment = Comment(str(next(self.ids)), page, parent, location, normalise_storage(body, self.cloud), author,
                          now, when=now, selection=selection)
        if location == "inline" and parent is None:
            comment.marker = str(uuid.uuid4())
        self.comments[comment.id] = comment
        return comment

    @route("GET", r"(?:/wiki)?/rest/api/content/?")
    def list_content(self, request: Request) -> Response:
        if denied := self._auth(request):
            return denied
        space, title = request.arg("spaceKey"), request.arg("title")
        found = [p for p in self.pages.values()
                 if (space is None or p.space == space) and (title is None or p.title == title)]
        return self._v1_page(request, found, lambda p: self.page_json(p, _expand(request)), "/rest/api/content")

    @route("GET", r"(?:/wiki)?/rest/api/content/(?P<id>\d+)")
    def get_content(self, request: Request, id: str) -> Response:
        if denied := self._auth(request):
            return denied
        if id in self.pages:
            return Response(200, self.page_json(self.pages[id], _expand(request)))
        if id in self.comments and self.comments[id].status == "current":
            return Response(200, self.comment_v1(self.comments[id], _expand(request)))
        return Response(404, v1_error(404, f"No content found with id: ContentId{{id={id}}}"))

    @route("PUT", r"(?:/wiki)?/rest/api/content/(?P<id>\d+)")
    def update_content(self, request: Request, id: str) -> Response:
        if (denied := self._auth(request)) or (denied := self._v1_invalid(
                request, "#/components/schemas/ContentUpdate", "#/components/schemas/Content")):
            return denied
        page = self.pages.get(id)
        if page is None:
            return Response(404, v1_error(404, f"No content found with id: ContentId{{id={id}}}"))
        body = request.json()
        number = (body.get("version") or {}).get("number")
        if number != page.version + 1:
            return Response(409, v1_error(409, f"Version must be incremented on update. Current version is: "
                                               f"{page.version}"))
        if body.get("type") != "page" or not body.get("title"):
            return Response(400, v1_error(400, "Content type and title are required"))
        storage = ((body.get("body") or {}).get("storage") or {})
        error = xhtml_error(storage.get("value", ""))
        if error:
            return Response(400, v1_error(400, error))
        self._save(page, storage["value"], self.bot.key, title=body["title"])
        return Response(200, self.page_json(page, {"space", "history", "version"}))

    def _save(self, page: Page, body: str, by: str, *, title: str | None = None) -> None:
        page.body = normalise_storage(body, self.cloud)
        page.title = title or page.title
        page.version += 1
        page.when = self.now()
        page.by = by
        self._mark_dangling(page)

    def _mark_dangling(self, page: Page) -> None:
        """Inline comments whose marker left the body are dangling, as Confluence shows them."""
        for comment in self.comments.values():
            if comment.page == page.id and comment.marker and comment.marker not in page.body:
                comment.resolution = "dangling"

    # -- v1: search -------------------------------------------------------------------------------

    @route("GET", r"(?:/wiki)?/rest/api/content/search")
    def search(self, request: Request) -> Response:
        if denied := self._auth(request):
            return denied
        cql = request.arg("cql")
        if not cql:
            return Response(400, v1_error(400, "CQL query parameter is required but was empty"))
        try:
            match = parse_cql(cql, self.now())
        except ValueError as exc:
            return Response(400, v1_error(400, f"Could not parse cql : {cql} ({exc})"))
        found = sorted((p for p in self.pages.values() if match(self, p)), key=lambda p: (p.when, p.id))
        return self._v1_page(request, found, lambda p: self.page_json(p, _expand(request)),
                             "/rest/api/content/search")

    def _v1_page(self, request: Request, items: list[Any], render: Any, path: str) -> Response:
        """One page of a v1 list; Cloud pages by opaque cursor, Data Center by start."""
        limit = min(int(request.arg("limit") or 25), self.page_size)
        cursor = request.arg("cursor")
        if cursor is not None:
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":")[1])
        else:
            start = int(request.arg("start") or 0)
        chunk = items[start : start + limit]
        links: dict[str, str] = {"base": self.base, "context": self.context,
                                 "self": f"{self.base}{path}"}
        if start + limit < len(items):
            query = {k: v[-1] for k, v in request.query.items() if k not in ("start", "cursor")}
            query["limit"] = str(limit)
            if self.cloud and path.endswith("search"):
                query["cursor"] = base64.urlsafe_b64encode(f"after:{start + limit}".encode()).decode()
                query["next"] = "true"
            else:
                query["start"] = str(start + limit)
            links["next"] = f"{path}?{urlencode(query)}"
        return Response(200, {"results": [render(i) for i in chunk], "start": start, "limit": limit,
                              "size": len(chunk), "_links": links})

    # -- v1: comments -----------------------------------------------------------------------------

    @route("GET", r"(?:/wiki)?/rest/api/content/(?P<id>\d+)/child/comment")
    def child_comments(self, request: Request, id: str) -> Response:
        if denied := self._auth(request):
            return denied
        if id not in self.pages:
            return Response(404, v1_error(404, f"No content found with id: ContentId{{id={id}}}"))
        locations = set(request.query.get("location", [])) or {"inline", "footer"}
        deep = request.arg("depth") == "all"
        found = [c for c in self.comments.values() if c.page == id and c.status == "current"
                 and c.location in locations and (deep or c.parent is None)]
        return self._v1_page(request, found, lambda c: self.comment_v1(c, _expand(request)),
                             f"/rest/api/content/{id}/child/comment")

    # -- v1: properties -----------------------------------------------------------------------------

    @route("GET", r"(?:/wiki)?/rest/api/content/(?P<id>\d+)/property/(?P<key>[^/]+)")
    def get_property(self, request: Request, id: str, key: str) -> Response:
        if denied := self._auth(request):
            return denied
        page = self.pages.get(id)
        if page is None or key not in page.properties:
            return Response(404, v1_error(404, f"Cannot find property '{key}' on content with id {id}"))
        return Response(200, self.property_json(page, page.properties[key]))

    @route("POST", r"(?:/wiki)?/rest/api/content/(?P<id>\d+)/property")
    def create_property(self, request: Request, id: str) -> Response:
        if (denied := self._auth(request)) or (denied := self._v1_invalid(
                request, "#/components/schemas/ContentPropertyCreate", "#/components/schemas/JsonContentProperty")):
            return denied
        page = self.pages.get(id)
        if page is None:
            return Response(404, v1_error(404, f"No content found with id: ContentId{{id={id}}}"))
        body = request.json()
        if body["key"] in page.properties:
            return Response(400, v1_error(400, f"A property with key '{body['key']}' already exists"))
        prop = page.properties[body["key"]] = Property(str(next(self.ids)), body["key"], body["value"])
        return Response(200, self.property_json(page, prop))

    @route("PUT", r"(?:/wiki)?/rest/api/content/(?P<id>\d+)/property/(?P<key>[^/]+)")
    def update_property(self, request: Request, id: str, key: str) -> Response:
        if (denied := self._auth(request)) or (denied := self._v1_invalid(
                request, "#/components/schemas/ContentPropertyUpdate", "#/components/schemas/JsonContentProperty")):
            return denied
        page = self.pages.get(id)
        if page is None or key not in page.properties:
            return Response(404, v1_error(404, f"Cannot find property '{key}' on content with id {id}"))
        prop = page.properties[key]
        number = (request.json().get("version") or {}).get("number")
        if number != prop.version + 1:
            return Response(409, v1_error(409, f"Version must be incremented on update. Current version is: "
                                               f"{prop.version}"))
        prop.value = request.json()["value"]
        prop.version = number
        return Response(200, self.property_json(page, prop))

    # -- v1: restrictions, attachments, users ---------------------------------------------------------

    @route("PUT", r"(?:/wiki)?/rest/api/content/(?P<id>\d+)/restriction")
    def set_restrictions(self, request: Request, id: str) -> Response:
        if denied := self._auth(request):
            return denied
        body = request.json()
        if self.cloud:
            errors = list(validator(V1_CLOUD, "#/components/schemas/ContentRestrictionAddOrUpdateArray")
                          .iter_errors(body))
        else:
            errors = list(jsonschema.Draft7Validator(
                {"type": "array", "items": _openapi_to_jsonschema(
                    _spec(V1_DC)["components"]["schemas"]["ContentRestriction"])}).iter_errors(body))
        if errors:
            return Response(400, v1_error(400, errors[0].message, valid=False))
        page = self.pages.get(id)
        if page is None:
            return Response(404, v1_error(404, f"No content found with id: ContentId{{id={id}}}"))
        items = body["results"] if isinstance(body, dict) else body
        for item in items:
            groups = [g["name"] for g in (item.get("restrictions") or {}).get("group", [])]
            page.restrictions[item["operation"]] = groups
        return Response(200, {"results": [{"operation": op, "restrictions": {"group": {"results": [
            {"type": "group", "name": g} for g in groups], "size": len(groups)}}}
            for op, groups in page.restrictions.items()], "size": len(page.restrictions)})

    @route("GET", r"(?:/wiki)?/rest/api/content/(?P<id>\d+)/child/attachment")
    def list_attachments(self, request: Request, id: str) -> Response:
        if denied := self._auth(request):
            return denied
        page = self.pages.get(id)
        if page is None:
            return Response(404, v1_error(404, f"No content found with id: ContentId{{id={id}}}"))
        name = request.arg("filename")
        found = [a for a in page.attachments.values() if name is None or a.name == name]
        return self._v1_page(request, found, lambda a: self.attachment_json(page, a),
                             f"/rest/api/content/{id}/child/attachment")

    def attachment_json(self, page: Page, attachment: Attachment) -> dict[str, Any]:
        download = f"/download/attachments/{page.id}/{quote(attachment.name)}?version={attachment.version}"
        return {"id": attachment.id, "type": "attachment", "status": "current", "title": attachment.name,
                "metadata": {"mediaType": attachment.media_type},
                "extensions": {"mediaType": attachment.media_type, "fileSize": len(attachment.data)},
                "version": {"number": attachment.version},
                "_links": {"download": download, "webui": f"/pages/viewpageattachments.action?pageId={page.id}",
                           "self": f"{self.base}/rest/api/content/{attachment.id}"}}

    @route("POST", r"(?:/wiki)?/rest/api/content/(?P<id>\d+)/child/attachment")
    def create_attachment(self, request: Request, id: str) -> Response:
        return self._upload(request, id, None)

    @route("POST", r"(?:/wiki)?/rest/api/content/(?P<id>\d+)/child/attachment/(?P<aid>\d+)/data")
    def update_attachment(self, request: Request, id: str, aid: str) -> Response:
        return self._upload(request, id, aid)

    def _upload(self, request: Request, id: str, aid: str | None) -> Response:
        if denied := self._auth(request):
            return denied
        if request.headers.get("x-atlassian-token") != "no-check":
            return Response(403, "XSRF check failed", {"Content-Type": "text/plain"})
        page = self.pages.get(id)
        if page is None:
            return Response(404, v1_error(404, f"No content found with id: ContentId{{id={id}}}"))
        parts = multipart(request)
        if "file" not in parts:
            return Response(400, v1_error(400, "No file part in the request"))
        filename, data, media_type = parts["file"]
        existing = page.attachments.get(filename)
        if aid is None and existing is not None:
            return Response(400, v1_error(400, f"Cannot add a new attachment with same file name as an existing "
                                               f"attachment: {filename}"))
        if aid is not None:
            if existing is None or existing.id != aid:
                return Response(404, v1_error(404, f"No attachment with id {aid}"))
            existing.data, existing.version = data, existing.version + 1
            return Response(200, self.attachment_json(page, existing))
        attachment = page.attachments[filename] = Attachment(str(next(self.ids)), filename, data, media_type)
        return Response(200, {"results": [self.attachment_json(page, attachment)], "size": 1})

    @route("GET", r"(?:/wiki)?/rest/api/user")
    def get_user(self, request: Request) -> Response:
        if denied := self._auth(request):
            return denied
        if self.cloud:
            user = self.users.get(request.arg("accountId") or "")
        else:
            key, name = request.arg("key"), request.arg("username")
            user = next((u for u in self.users.values() if (key and u.userkey == key) or (name and u.key == name)),
                        None)
        if user is None:
            return Response(404, v1_error(404, "No user found"))
        return Response(200, self.user_json(user.key))

    # -- v2 (Cloud) -------------------------------------------------------------------------------

    def _v2_invalid(self, request: Request, pointer: str) -> Response | None:
        errors = list(validator(V2_CLOUD, pointer).iter_errors(request.json()))
        if errors:
            return Response(400, v2_error(400, errors[0].message))
        return None

    def _v2_list(self, request: Request, items: list[Comment]) -> Response:
        limit = min(int(request.arg("limit") or 25), 250, self.page_size)
        cursor = request.arg("cursor")
        start = int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":")[1]) if cursor else 0
        chunk = items[start : start + limit]
        body: dict[str, Any] = {"results": [self.comment_v2(c, request.arg("body-format")) for c in chunk],
                                "_links": {"base": self.base}}
        headers: dict[str, str] = {}
        if start + limit < len(items):
            query = {k: v[-1] for k, v in request.query.items() if k != "cursor"}
            query["cursor"] = base64.urlsafe_b64encode(f"id:{start + limit}".encode()).decode()
            body["_links"]["next"] = f"{request.path}?{urlencode(query)}"
            headers["Link"] = f'<{body["_links"]["next"]}>; rel="next", <{self.base}>; rel="base"'
        return Response(200, body, headers)

    def _v2_only(self, request: Request) -> Response | None:
        if not self.cloud:
            return self.not_found(request)
        return self._auth(request)

    @route("GET", r"/wiki/api/v2/pages/(?P<id>\d+)/(?P<kind>footer|inline)-comments")
    def page_comments_v2(self, request: Request, id: str, kind: str) -> Response:
        if denied := self._v2_only(request):
            return denied
        if id not in self.pages:
            return Response(404, v2_error(404, "Not Found"))
        found = [c for c in self.comments.values()
                 if c.page == id and c.location == kind and c.parent is None and c.status == "current"]
        return self._v2_list(request, found)

    @route("GET", r"/wiki/api/v2/(?P<kind>footer|inline)-comments/(?P<id>\d+)/children")
    def comment_children_v2(self, request: Request, kind: str, id: str) -> Response:
        if denied := self._v2_only(request):
            return denied
        parent = self.comments.get(id)
        if parent is None or parent.location != kind:
            return Response(404, v2_error(404, "Not Found"))
        return self._v2_list(request, [c for c in self.comments.values()
                                       if c.parent == id and c.status == "current"])

    @route("GET", r"/wiki/api/v2/(?P<kind>footer|inline)-comments/(?P<id>\d+)")
    def get_comment_v2(self, request: Request, kind: str, id: str) -> Response:
        if denied := self._v2_only(request):
            return denied
        comment = self.comments.get(id)
        if comment is None or comment.location != kind or comment.status != "current":
            return Response(404, v2_error(404, "Not Found"))
        data = self.comment_v2(comment, request.arg("body-format"))
        if kind == "inline" and comment.resolution_at is not None:
            data["resolutionLastModifierId"] = comment.resolution_by
            data["resolutionLastModifiedAt"] = self.stamp(comment.resolution_at)
        return Response(200, data)

    @route("POST", r"/wiki/api/v2/footer-comments")
    def create_footer_v2(self, request: Request) -> Response:
        if (denied := self._v2_only(request)) or (denied := self._v2_invalid(
                request, "#/components/schemas/CreateFooterCommentModel")):
            return denied
        return self._create_v2(request.json(), "footer")

    @route("POST", r"/wiki/api/v2/inline-comments")
    def create_inline_v2(self, request: Request) -> Response:
        if (denied := self._v2_only(request)) or (denied := self._v2_invalid(
                request, "#/components/schemas/CreateInlineCommentModel")):
            return denied
        return self._create_v2(request.json(), "inline")

    def _create_v2(self, body: dict[str, Any], kind: str) -> Response:
        value = _v2_body(body.get("body"))
        if value is None:
            return Response(400, v2_error(400, "Comment body is required in storage representation"))
        if (error := xhtml_error(value)) is not None:
            return Response(400, v2_error(400, error))
        parent_id = body.get("parentCommentId")
        if parent_id:
            parent = self.comments.get(str(parent_id))
            if parent is None or parent.location != kind:
                return Response(404, v2_error(404, f"Parent {kind} comment {parent_id} not found"))
            comment = self._new_comment(parent.page, parent.id, kind, value, self.bot.key)
            return Response(201, self.comment_v2(comment, "storage"))
        page = self.pages.get(str(body.get("pageId", "")))
        if page is None:
            return Response(404, v2_error(404, "Page not found"))
        if kind == "footer":
            return Response(201, self.comment_v2(self._new_comment(page.id, None, kind, value, self.bot.key),
                                                 "storage"))
        props = body.get("inlineCommentProperties") or {}
        selection = props.get("textSelection") or ""
        count, index = props.get("textSelectionMatchCount"), props.get("textSelectionMatchIndex")
        if not selection or count is None or index is None:
            return Response(400, v2_error(400, "inlineCommentProperties are required for a top level inline "
                                               "comment"))
        if not isinstance(count, int) or not isinstance(index, int) or not 0 <= index < count:
            return Response(400, v2_error(400, "textSelectionMatchIndex must be below textSelectionMatchCount"))
        comment = self._new_comment(page.id, None, "inline", value, self.bot.key, selection)
        if not self._anchor(page, comment, selection, index, count):
            del self.comments[comment.id]
            return Response(400, v2_error(400, "Cannot find the selected text on the page"))
        return Response(201, self.comment_v2(comment, "storage"))

    def _anchor(self, page: Page, comment: Comment, selection: str, index: int, count: int | None) -> bool:
        """Wrap occurrence `index` of `selection` (within one text run) in an inline comment marker."""
        needle = html.escape(selection, quote=False)
        spots = [m.start() for m in re.finditer(re.escape(needle), page.body)
                 if not _inside_tag(page.body, m.start())]
        if not spots or (count is not None and len(spots) != count) or index >= len(spots):
            return False
        at = spots[index]
        page.body = (page.body[:at] + f'<ac:inline-comment-marker ac:ref="{comment.marker}">{needle}'
                     "</ac:inline-comment-marker>" + page.body[at + len(needle):])
        return True

    @route("PUT", r"/wiki/api/v2/inline-comments/(?P<id>\d+)")
    def update_inline_v2(self, request: Request, id: str) -> Response:
        if (denied := self._v2_only(request)) or (denied := self._v2_invalid(
                request, "#/components/schemas/UpdateInlineCommentModel")):
            return denied
        comment = self.comments.get(id)
        if comment is None or comment.location != "inline":
            return Response(404, v2_error(404, "Not Found"))
        body = request.json()
        if (body.get("version") or {}).get("number") != comment.version + 1:
            return Response(409, v2_error(409, f"Version must be incremented on update. Current version is: "
                                               f"{comment.version}"))
        value = _v2_body(body.get("body"))
        if value is None:
            return Response(400, v2_error(400, "Comment body is required"))
        if "resolved" in body:
            if comment.resolution == "dangling":
                return Response(400, v2_error(400, "A dangling comment cannot be updated"))
            self._resolve(comment, bool(body["resolved"]), self.bot.key)
        comment.body, comment.version, comment.when = value, comment.version + 1, self.now()
        return Response(200, self.comment_v2(comment, "storage"))

    def _resolve(self, comment: Comment, resolved: bool, by: str) -> None:
        if resolved and comment.resolution != "resolved":
            comment.resolution = "resolved"
        elif not resolved and comment.resolution == "resolved":
            comment.resolution = "reopened"
        else:
            return
        comment.resolution_by, comment.resolution_at = by, self.now()

    @route("POST", r"/wiki/api/v2/users-bulk")
    def users_bulk(self, request: Request) -> Response:
        if (denied := self._v2_only(request)) or (denied := self._v2_invalid(
                request, "#/components/requestBodies/BulkUsersRequest/content/application~1json/schema")):
            return denied
        ids = request.json()["accountIds"]
        results = [
            {"accountId": u.key, "accountType": "atlassian", "accountStatus": "active", "email": u.email,
             "publicName": u.display, "displayName": u.display, "timeZone": "Europe/Berlin",
             "isExternalCollaborator": False}
            for key in ids if (u := self.users.get(key)) is not None
        ]
        return Response(200, {"results": results, "_links": {"base": self.base}})

    # -- Data Center inline comments (the web UI's endpoints; no published spec) ----------------------

    def inline_dc_json(self, comment: Comment) -> dict[str, Any]:
        author = self.users[comment.author]
        return {"id": int(comment.id), "containerId": comment.page, "body": comment.body,
                "originalSelection": comment.selection, "markerRef": comment.marker,
                "authorDisplayName": author.display, "authorUserName": author.key,
                "authorAvatarUrl": "/images/icons/profilepics/default.svg",
                "lastFetchTime": int(comment.when.timestamp() * 1000), "hasDeletePermission": True,
                "hasEditPermission": True, "hasResolvePermission": True,
                "resolveProperties": {"resolved": comment.resolution == "resolved",
                                      "resolvedTime": int((comment.resolution_at or comment.created).timestamp()
                                                          * 1000),
                                      "resolvedUser": comment.resolution_by or "", "resolvedByDangling":
                                      comment.resolution == "dangling"},
                "deleted": comment.status != "current", "active": comment.status == "current"}

    @route("GET", r"/rest/inlinecomments/1\.0/comments")
    def list_inline_dc(self, request: Request) -> Response:
        if self.cloud:
            return self.not_found(request)
        if denied := self._auth(request):
            return denied
        page = request.arg("containerId") or ""
        return Response(200, [self.inline_dc_json(c) for c in self.comments.values()
                              if c.page == page and c.location == "inline" and c.parent is None])

    @route("POST", r"/rest/inlinecomments/1\.0/comments")
    def create_inline_dc(self, request: Request) -> Response:
        if self.cloud:
            return self.not_found(request)
        if denied := self._auth(request):
            return denied
        body = request.json()
        page = self.pages.get(str(body.get("containerId", "")))
        if page is None:
            return Response(404, v1_error(404, "No content found"))
        missing = [k for k in ("body", "originalSelection", "matchIndex", "numMatches", "lastFetchTime",
                               "serializedHighlights") if k not in body]
        if missing:
            return Response(400, v1_error(400, "Could not create content with type comment", valid=False,
                                          errors=[{"message": {"key": k}} for k in missing]))
        comment = self._new_comment(page.id, None, "inline", body["body"], self.bot.key, body["originalSelection"])
        if not self._anchor(page, comment, body["originalSelection"], body["matchIndex"], body["numMatches"]):
            del self.comments[comment.id]
            return Response(400, v1_error(400, "The selected text could not be found"))
        return Response(200, self.inline_dc_json(comment))

    @route("PUT", r"/rest/inlinecomments/1\.0/comments/(?P<id>\d+)/resolve/(?P<resolved>true|false)"
                  r"/dangling/(?P<dangling>true|false)")
    def resolve_inline_dc(self, request: Request, id: str, resolved: str, dangling: str) -> Response:
        if self.cloud:
            return self.not_found(request)
        if denied := self._auth(request):
            return denied
        comment = self.comments.get(id)
        if comment is None or comment.location != "inline":
            return Response(404, v1_error(404, "No inline comment found"))
        self._resolve(comment, resolved == "true", self.bot.key)
        return Response(200, self.inline_dc_json(comment))

    # ---- what people do in the product UI ---------------------------------------------------------

    def page_for(self, incident_id: str) -> Page:
        return next(p for p in self.pages.values()
                    if (p.properties.get("ops-postmortem") and
                        p.properties["ops-postmortem"].value.get("incident") == incident_id))

    def human_save(self, page_id: str, body: str, person: str = "Priya Raman") -> None:
        """A person saves the page from the editor (Cloud's editor also wraps cell text in paragraphs)."""
        page = self.pages[page_id]
        if self.cloud:
            body = re.sub(r"<td>(?!<p>)(.*?)</td>", r"<td><p>\1</p></td>", body, flags=re.DOTALL)
            body = re.sub(r"<td><p></p></td>", "<td><p /></td>", body)
        with self.lock:
            self._save(page, body, self.user_named(person).key)

    def human_edit(self, page_id: str, old: str, new: str, person: str = "Priya Raman") -> None:
        body = self.pages[page_id].body
        needle = html.escape(old, quote=False)
        assert needle in body, f"{old!r} is not in the page"
        self.human_save(page_id, body.replace(needle, html.escape(new, quote=False), 1), person)

    def human_fill_table(self, page_id: str, header_first: str, rows: list[list[str]],
                         person: str = "Priya Raman") -> None:
        """A person types rows into the table whose first header cell is `header_first`."""
        body = self.pages[page_id].body
        start = body.index(f"<th>{header_first}</th>")
        row_end = body.index("</tr>", start) + len("</tr>")
        table_end = body.index("</tbody>", row_end)
        cells = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
        self.human_save(page_id, body[:row_end] + cells + body[table_end:], person)

    def human_comment(self, page_id: str, person: str, text: str, quote: str | None = None) -> Comment:
        user = self.user_named(person)
        body = "".join(f"<p>{html.escape(line, quote=False)}</p>" for line in text.split("\n"))
        with self.lock:
            if quote is None:
                return self._new_comment(page_id, None, "footer", body, user.key)
            comment = self._new_comment(page_id, None, "inline", body, user.key, quote)
            assert self._anchor(self.pages[page_id], comment, quote, 0, None), f"{quote!r} is not in the page"
            return comment

    def human_reply(self, comment_id: str, person: str, text: str, action: str | None = None) -> Comment | None:
        """A reply; an inline thread's Resolve / Reopen button; on a footer comment (which has no such button)
        people write the word at the start of the reply, as the tool documents."""
        user = self.user_named(person)
        parent = self.comments[comment_id]
        with self.lock:
            if action is not None and parent.location == "inline":
                self._resolve(parent, action == "resolve", user.key)
            elif action is not None:
                text = f"{'Resolved' if action == 'resolve' else 'Reopened'}: {text}".rstrip(": ")
            if not text:
                return None
            body = "".join(f"<p>{html.escape(line, quote=False)}</p>" for line in text.split("\n"))
            return self._new_comment(parent.page, parent.id, parent.location, body, user.key)


# ---- helpers ------------------------------------------------------------------------------------


def v1_error(status: int, message: str, *, valid: bool = True, authorized: bool = True,
             errors: list[Any] | None = None) -> dict[str, Any]:
    """The v1 error body of both Cloud and Data Center."""
    return {"statusCode": status,
            "data": {"authorized": authorized, "valid": valid, "allowedInReadOnlyMode": True,
                     "errors": errors or [], "successful": False},
            "message": message, "reason": _REASONS.get(status, "Error")}


def v2_error(status: int, title: str) -> dict[str, Any]:
    codes = {400: "INVALID_REQUEST_PARAMETER", 401: "UNAUTHORIZED", 404: "NOT_FOUND", 409: "CONFLICT",
             429: "TOO_MANY_REQUESTS"}
    return {"errors": [{"status": status, "code": codes.get(status, "INTERNAL_SERVER_ERROR"), "title": title,
                        "detail": None}]}


def _expand(request: Request) -> set[str]:
    return {part.strip() for value in request.query.get("expand", []) for part in value.split(",") if part.strip()}


def _v2_body(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    if body.get("representation") == "storage" and isinstance(body.get("value"), str):
        return str(body["value"])
    nested = body.get("storage")
    if isinstance(nested, dict) and isinstance(nested.get("value"), str):
        return str(nested["value"])
    return None


def _inside_tag(body: str, pos: int) -> bool:
    return body.rfind("<", 0, pos) > body.rfind(">", 0, pos)


def tiny(page_id: int) -> str:
    """Confluence's tiny link code: the id's little-endian bytes in URL-safe base64, trailing 'A's dropped."""
    raw = page_id.to_bytes(8, "little")
    return base64.b64encode(raw).decode().rstrip("=").rstrip("A").replace("/", "-").replace("+", "_")


def multipart(request: Request) -> dict[str, tuple[str, bytes, str]]:
    """The parts of a multipart/form-data body: name -> (filename, data, content type)."""
    content_type = request.headers.get("content-type", "")
    boundary = content_type.split("boundary=", 1)[-1].encode()
    parts: dict[str, tuple[str, bytes, str]] = {}
    for chunk in request.body.split(b"--" + boundary):
        if b"\r\n\r\n" not in chunk:
            continue
        head, _, data = chunk.partition(b"\r\n\r\n")
        headers = head.decode(errors="replace")
        name = re.search(r'name="([^"]*)"', headers)
        filename = re.search(r'filename="([^"]*)"', headers)
        ctype = re.search(r"Content-Type: ([^\r\n]+)", headers)
        if name:
            parts[name.group(1)] = (filename.group(1) if filename else "", data.removesuffix(b"\r\n"),
                                    ctype.group(1) if ctype else "text/plain")
    return parts


# ---- CQL: the clauses the tool sends ------------------------------------------------------------

_CLAUSE = re.compile(r'\s*(?P<field>\w+)\s*(?P<op>!=|>=|<=|=|>|<|~)\s*(?P<value>"(?:[^"\\]|\\.)*"|now\("[^"]*"\)|[\w.-]+)\s*',
                     re.IGNORECASE)
_RELATIVE = re.compile(r"([+-]?)\s*(\d+)([yMwdhm])")


def parse_cql(cql: str, now: datetime) -> Any:
    """A predicate over pages for `a = "x" and b > now("-15m") and ...`; anything else is a parse error."""
    clauses = []
    for part in re.split(r"\s+and\s+", cql.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.fullmatch(part)
        if m is None:
            raise ValueError(f"unexpected clause {part!r}")
        field_name, op, raw = m.group("field").lower(), m.group("op"), m.group("value")
        if field_name not in ("type", "space", "label", "lastmodified", "title", "ancestor", "id"):
            raise ValueError(f"unknown field {field_name!r}")
        clauses.append((field_name, op, _cql_value(raw, now)))

    def match(fake: FakeConfluence, page: Page) -> bool:
        for name, op, value in clauses:
            if name == "lastmodified":
                assert isinstance(value, datetime)
                ok = {">": page.when > value, ">=": page.when >= value, "<": page.when < value,
                      "<=": page.when <= value, "=": page.when == value}.get(op, False)
            elif name == "label":
                ok = (value in page.labels) == (op == "=")
            elif name == "type":
                ok = (value == "page") == (op == "=")
            elif name == "space":
                ok = (page.space == value) == (op == "=")
            elif name == "ancestor":
                ok = (str(value) in fake._lineage(page)) == (op == "=")
            elif name == "id":
                ok = (page.id == str(value)) == (op == "=")
            else:
                ok = (value.casefold() in page.title.casefold()) if op == "~" else (page.title == value)
            if not ok:
                return False
        return True

    return match


def _cql_value(raw: str, now: datetime) -> Any:
    if raw.startswith("now("):
        delta = timedelta()
        units = {"y": 365 * 86400, "M": 30 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60}
        for sign, amount, unit in _RELATIVE.findall(raw[5:-2]):
            seconds = int(amount) * units[unit]
            delta += timedelta(seconds=-seconds if sign == "-" else seconds)
        return now + delta
    if raw.startswith('"'):
        text = raw[1:-1].replace('\\"', '"')
        if re.fullmatch(r"\d{4}[-/]\d{2}[-/]\d{2}( \d{2}:\d{2})?", text):
            # CQL dates are in the caller's time zone (here the server's); minutes at most.
            return datetime.strptime(text.replace("/", "-"), "%Y-%m-%d %H:%M" if " " in text else "%Y-%m-%d"
                                     ).replace(tzinfo=UTC)
        return text
    return raw
