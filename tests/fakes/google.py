"""A stateful fake Google over HTTPS on 127.0.0.1: Docs v1, Drive v3 (files, uploads, copies, permissions,
comments and replies, batches) and an OAuth 2.0 token endpoint, for the real google-api-python-client.

Faithful where our code depends on it: service-account JWTs are verified against the key the test made,
scopes decide access (`drive.file` sees only files created through the API), every batchUpdate and every
files/permissions/comments body is validated against the discovery schemas shipped in the client (an
invalid one gets Google's 400), `writeControl.requiredRevisionId` is honoured, revisions and modifiedTime
move on every change, `fields` masks responses (and is required on comments), lists paginate, and failures
and rate limits (429, 403 rateLimitExceeded with Retry-After) come on request.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import email.parser
import email.policy
import hashlib
import ipaddress
import itertools
import json
import re
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import googleapiclient
import jsonschema

from tests.fakes import google_docs as gd
from tests.fakes.server import FakeService, Request, Response, route, serve

DOC_MIME = "application/vnd.google-apps.document"
FOLDER_MIME = "application/vnd.google-apps.folder"
SCOPE_DRIVE = "https://www.googleapis.com/auth/drive"
SCOPE_FILE = "https://www.googleapis.com/auth/drive.file"
SCOPE_READONLY = "https://www.googleapis.com/auth/drive.readonly"
SCOPE_DOCS = "https://www.googleapis.com/auth/documents"
UTC = dt.UTC


# ---- TLS and keys (made once per test session) ---------------------------------------------------------


@cache
def _rsa_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


@cache
def tls_files() -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key, in a temporary folder."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = _rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-google.test")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="fake-google-tls-"))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(_pem(key))
    return cert_path, key_path


def server_context() -> ssl.SSLContext:
    cert, key = tls_files()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


# ---- discovery schemas as JSON Schema ------------------------------------------------------------------


def _convert(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"$ref": f"#/definitions/{schema['$ref']}"}
    out: dict[str, Any] = {}
    if schema.get("type") and schema["type"] != "any":
        out["type"] = schema["type"]
    if "enum" in schema:
        out["enum"] = schema["enum"]
    if "items" in schema:
        out["items"] = _convert(schema["items"])
    if "properties" in schema:
        out["properties"] = {k: _convert(v) for k, v in schema["properties"].items()}
        if "additionalProperties" not in schema:
            out["additionalProperties"] = False
    if "additionalProperties" in schema:
        out["additionalProperties"] = _convert(schema["additionalProperties"])
    return out


@cache
def validator(api: str, name: str) -> jsonschema.Draft7Validator:
    path = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / f"{api}.json"
    discovery = json.loads(path.read_text())
    definitions = {n: _convert(s) for n, s in discovery["schemas"].items()}
    if "Request" in definitions and api == "docs.v1":
        definitions["Request"]["maxProperties"] = 1  # "exactly one kind per request" is only in the prose
        definitions["Request"]["minProperties"] = 1
    return jsonschema.Draft7Validator({"definitions": definitions, "$ref": f"#/definitions/{name}"})


def schema_errors(api: str, name: str, body: Any) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or name}: {e.message}"
        for e in validator(api, name).iter_errors(body)
    ]


# ---- fields masks --------------------------------------------------------------------------------------


def parse_fields(mask: str) -> dict[str, Any]:
    """'nextPageToken,files(id,author(displayName))' -> {'nextPageToken': None, 'files': {...}}."""
    tree: dict[str, Any] = {}
    pos = 0

    def parse(level: dict[str, Any]) -> None:
        nonlocal pos
        name = ""
        while pos < len(mask):
            ch = mask[pos]
            pos += 1
            if ch == "(":
                sub = level.setdefault(name.strip(), {}) or {}
                level[name.strip()] = sub
                parse(sub)
                name = ""
            elif ch == ")":
                if name.strip():
                    _add_path(level, name.strip())
                return
            elif ch == ",":
                if name.strip():
                    _add_path(level, name.strip())
                name = ""
            else:
                name += ch
        if name.strip():
            _add_path(level, name.strip())

    parse(tree)
    return tree


def _add_path(level: dict[str, Any], path: str) -> None:
    parts = path.split("/")
    for part in parts[:-1]:
        if level.get(part) is None:
            level[part] = {}
        level = level[part]
    level.setdefault(parts[-1], None)


def masked(value: Any, tree: dict[str, Any] | None) -> Any:
    if tree is None or "*" in tree:
        return value
    if isinstance(value, list):
        return [masked(v, tree) for v in value]
    if isinstance(value, dict):
        return {k: masked(value[k], sub) for k, sub in tree.items() if k in value}
    return value


# ---- state ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    email: str
    scopes: frozenset[str]

    def can(self, *scopes: str) -> bool:
        return bool(self.scopes & set(scopes))


@dataclass
class DocState:
    tabs: list[gd.Tab]
    revision: int = 1

    @property
    def revision_id(self) -> str:
        return f"ALm37BV{self.revision:05d}x" + hashlib.sha1(str(self.revision).encode()).hexdigest()[:12]


@dataclass
class FileRecord:
    id: str
    name: str
    mime: str
    owner: str
    created: str
    modified: str
    parents: list[str] = field(default_factory=list)
    app_properties: dict[str, str] = field(default_factory=dict)
    shared: dict[str, str] = field(default_factory=dict)  # email or "domain:acme.test" -> role
    via_api: bool = False  # created through the API: what `drive.file` reaches
    trashed: bool = False
    content: bytes = b""

    def resource(self) -> dict[str, Any]:
        link = (f"https://docs.google.com/document/d/{self.id}/edit?usp=drivesdk" if self.mime == DOC_MIME
                else f"https://drive.google.com/file/d/{self.id}/view?usp=drivesdk")
        return {"kind": "drive#file", "id": self.id, "name": self.name, "mimeType": self.mime,
                "parents": list(self.parents), "appProperties": dict(self.app_properties),
                "createdTime": self.created, "modifiedTime": self.modified, "trashed": self.trashed,
                "webViewLink": link}


def _error(code: int, message: str, status: str, reason: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        body["errors"] = [{"message": message, "domain": extra.pop("domain", "global"), "reason": reason,
                           **extra}]
    return Response(code, {"error": body})


_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE"}


class FakeGoogle(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.base = ""
        self.keys: dict[str, Any] = {}  # service-account e-mail -> public key
        self.clients: dict[str, str] = {}  # OAuth client id -> secret
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, Identity] = {}
        self.people: dict[str, dict[str, str]] = {}  # e-mail -> displayName, permissionId
        self.files: dict[str, FileRecord] = {}
        self.docs: dict[str, DocState] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.notifications: list[dict[str, Any]] = []  # sharing e-mails Google would have sent
        self.batched: list[Request] = []  # the requests inside Drive batches
        self.ids = itertools.count(1)
        self._last = dt.datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
        self.clock_lock = threading.Lock()

    # ---- helpers for tests: what admins and people do ----------------------------------------------------

    def now(self) -> str:
        """Strictly increasing times, so every change moves modifiedTime."""
        with self.clock_lock:
            current = max(dt.datetime.now(UTC), self._last + dt.timedelta(milliseconds=1))
            self._last = current
            return current.strftime("%Y-%m-%dT%H:%M:%S.") + f"{current.microsecond // 1000:03d}Z"

    def new_id(self, prefix: str = "1") -> str:
        digest = hashlib.sha256(f"{prefix}{next(self.ids)}".encode()).digest()
        return prefix + base64.urlsafe_b64encode(digest).decode().rstrip("=")[:43]

    def person(self, email: str, name: str) -> None:
        self.people[email] = {"displayName": name, "permissionId": f"{abs(hash(email)) % 10**20:020d}"}

    def service_account(self, folder: Path, email: str = "postmortem-bot@acme-ops.iam.gserviceaccount.com") -> Path:
        """A key file for a new service account whose tokens this fake issues."""
        key = _rsa_key()
        self.keys[email] = key.public_key()
        self.person(email, "postmortem-bot")
        path = folder / "service-account.json"
        path.write_text(json.dumps({
            "type": "service_account", "project_id": "acme-ops", "private_key_id": "k1",
            "private_key": _pem(key).decode(), "client_email": email, "client_id": "1234567890",
            "token_uri": f"{self.base}/token", "auth_uri": f"{self.base}/o/oauth2/auth",
        }))
        return path

    def oauth_client(self, folder: Path, client_id: str = "42-desktop.apps.googleusercontent.com") -> Path:
        secret = "GOCSPX-fake-secret"
        self.clients[client_id] = secret
        path = folder / "client_secret.json"
        path.write_text(json.dumps({"installed": {
            "client_id": client_id, "client_secret": secret, "project_id": "acme-ops",
            "auth_uri": f"{self.base}/o/oauth2/auth", "token_uri": f"{self.base}/token",
            "redirect_uris": ["http://localhost"]}}))
        return path

    def approve(self, auth_url: str, user: str) -> str:
        """A person approves the consent screen: the address the browser is sent to, with a code."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
        code = f"4/0A{next(self.ids):06d}"
        self.codes[code] = {"client_id": query["client_id"], "redirect_uri": query["redirect_uri"],
                            "challenge": query.get("code_challenge"), "scopes": query["scope"].split(), "user": user}
        return f"{query['redirect_uri']}?{urlencode({'state': query.get('state', ''), 'code': code})}"

    def folder(self, name: str, *, owner: str = "admin@acme.test", shared: dict[str, str] | None = None) -> str:
        record = FileRecord(self.new_id("0A"), name, FOLDER_MIME, owner, self.now(), self.now(),
                            shared=dict(shared or {}))
        self.files[record.id] = record
        return record.id

    def document(self, html: str, *, name: str = "Doc", owner: str = "admin@acme.test",
                 shared: dict[str, str] | None = None, parents: tuple[str, ...] = ()) -> str:
        """A Google Doc someone made by hand (not through the API)."""
        record = FileRecord(self.new_id(), name, DOC_MIME, owner, self.now(), self.now(), list(parents),
                            shared=dict(shared or {}))
        self.files[record.id] = record
        self.docs[record.id] = DocState([gd.Tab("t.0", "Tab 1", gd.import_html(html))])
        return record.id

    def _touch(self, doc_id: str) -> None:
        self.docs[doc_id].revision += 1
        self.files[doc_id].modified = self.now()

    def ui_edit(self, doc_id: str, requests: list[dict[str, Any]]) -> None:
        """A person edits the doc in the product (expressed as the edits the API would make)."""
        with self.lock:
            editor = gd.Editor(gd.all_tabs(self.docs[doc_id].tabs))
            for request in requests:
                editor.apply(request)
            self._touch(doc_id)

    def ui_replace(self, doc_id: str, old: str, new: str) -> None:
        """A person replaces the first `old` in the doc with `new`."""
        with self.lock:
            for tab in gd.all_tabs(self.docs[doc_id].tabs):
                for container in gd.containers(tab.body):
                    text = "".join(a.ch if isinstance(a, gd.Atom) and a.chip is None else "\x00" for a in container)
                    at = text.find("".join(gd.units(old)))
                    if at >= 0:
                        style = dict(container[at].style)
                        container[at : at + len(gd.units(old))] = gd.text_atoms(new, style)
                        self._touch(doc_id)
                        return
        raise AssertionError(f"{old!r} is not in the doc")

    def tables(self, doc_id: str) -> list[gd.TableM]:
        return [item for tab in gd.all_tabs(self.docs[doc_id].tabs) for item in tab.body
                if isinstance(item, gd.TableM)]

    def ui_set_cell(self, doc_id: str, table: int, row: int, column: int, parts: list[Any]) -> None:
        """A person writes into a cell: strings, chips ({"person": ...}), or ("suggest", text) suggestions."""
        with self.lock:
            cell = self.tables(doc_id)[table].rows[row][column]
            atoms: list[Any] = []
            for part in parts:
                if isinstance(part, str):
                    for line_no, line in enumerate(part.split("\n")):
                        if line_no:
                            atoms.append(gd.newline())
                        atoms += gd.text_atoms(line)
                elif isinstance(part, tuple):
                    atoms += gd.text_atoms(part[1], suggested=("suggest.1",))
                else:
                    atoms.append(gd.Atom(gd.OBJ, {}, chip=part))
            cell.content = atoms + [gd.newline()]
            self._touch(doc_id)

    def ui_fill_table(self, doc_id: str, header: str, rows: list[list[str]]) -> None:
        """A person fills the table whose first header cell is `header`, one row per entry."""
        with self.lock:
            table = next(t for t in self.tables(doc_id) if gd.plain_text(t.rows[0][0].content).strip() == header)
            table.rows[1:] = [[gd.CellM(gd.text_atoms(value) + [gd.newline()]) for value in row] for row in rows]
            self._touch(doc_id)

    def ui_merge(self, doc_id: str, table: int, row: int, column: int, *, rows: int = 1, columns: int = 1) -> None:
        with self.lock:
            grid = self.tables(doc_id)[table].rows
            grid[row][column].style = {"rowSpan": rows, "columnSpan": columns}
            for r in range(row, row + rows):
                for c in range(column, column + columns):
                    if (r, c) != (row, column):
                        grid[r][c].content = [gd.newline()]
            self._touch(doc_id)

    def ui_add_tab(self, doc_id: str, title: str, html: str, *, child_of: str | None = None) -> str:
        with self.lock:
            state = self.docs[doc_id]
            tab = gd.Tab(f"t.{next(self.ids)}", title, gd.import_html(html))
            parent = next((t for t in gd.all_tabs(state.tabs) if t.tab_id == child_of), None)
            (parent.children if parent else state.tabs).append(tab)
            self._touch(doc_id)
            return tab.tab_id

    def ui_comment(self, file_id: str, author: str, content: str, *, quote: str | None = None) -> str:
        with self.lock:
            comment = self._new_comment(file_id, author, {"content": content, **(
                {"quotedFileContent": {"mimeType": "text/html", "value": quote}} if quote else {})})
            return str(comment["id"])

    def ui_reply(self, file_id: str, comment_id: str, author: str, content: str,
                 action: str | None = None) -> str:
        with self.lock:
            reply = self._new_reply(file_id, comment_id, author, {"content": content, **(
                {"action": action} if action else {})})
            return str(reply["id"])

    def ui_delete_comment(self, file_id: str, comment_id: str) -> None:
        with self.lock:
            comment = next(c for c in self.comments[file_id] if c["id"] == comment_id)
            comment["deleted"] = True

    def doc_text(self, doc_id: str) -> str:
        return "\n".join(gd.plain_text(t.body) for t in gd.all_tabs(self.docs[doc_id].tabs))

    def rate_limit(self, *, times: int = 1, status: int = 429, reason: str = "userRateLimitExceeded",
                   retry_after: str = "0", path: str | None = None, method: str | None = None) -> None:
        if status == 429:
            body = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": (
                "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute per user' of service "
                "'docs.googleapis.com' for consumer 'project_number:1234567890'.")}}
        else:
            message = "User rate limit exceeded." if reason == "userRateLimitExceeded" else "Rate limit exceeded."
            body = {"error": {"code": 403, "message": message, "errors": [
                {"message": message, "domain": "usageLimits", "reason": reason}]}}
        self.fail_next(status, path=path, method=method, headers={"Retry-After": retry_after}, body=body,
                       times=times)

    def error_body(self, status: int) -> Any:
        messages = {500: "Internal error encountered.", 503: "The service is currently unavailable."}
        return {"error": {"code": status, "message": messages.get(status, f"Error {status}"),
                          "status": _STATUS.get(status, "UNKNOWN")}}

    def not_found(self, request: Request) -> Response:
        return _error(404, f"Method not found: {request.method} {request.path}", "NOT_FOUND")

    # ---- OAuth token endpoint ------------------------------------------------------------------------------

    @route("POST", r"/token")
    def token(self, request: Request) -> Response:
        form = request.form()
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            identity = self._verify_jwt(form.get("assertion", ""))
            if isinstance(identity, Response):
                return identity
        elif grant == "refresh_token":
            client = self._client(request, form)
            grant_info = self.refresh_tokens.get(form.get("refresh_token", ""))
            if client is None:
                return Response(401, {"error": "invalid_client", "error_description": "Unauthorized"})
            if grant_info is None or grant_info["client_id"] != client:
                return Response(400, {"error": "invalid_grant", "error_description": "Bad Request"})
            identity = Identity(grant_info["user"], frozenset(grant_info["scopes"]))
        elif grant == "authorization_code":
            client = self._client(request, form)
            if client is None:
                return Response(401, {"error": "invalid_client", "error_description": "Unauthorized"})
            return self._exchange_code(form, client)
        else:
            return Response(400, {"error": "unsupported_grant_type", "error_description": f"Invalid grant_type: {grant}"})
        return Response(200, self._issue(identity))

    def _issue(self, identity: Identity) -> dict[str, Any]:
        access = f"ya29.fake-{next(self.ids)}"
        self.tokens[access] = identity
        return {"access_token": access, "expires_in": 3599, "token_type": "Bearer",
                "scope": " ".join(sorted(identity.scopes))}

    def _verify_jwt(self, assertion: str) -> Identity | Response:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def b64(part: str) -> bytes:
            return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

        try:
            head, payload, signature = assertion.split(".")
            claims = json.loads(b64(payload))
        except ValueError:
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT."})
        key = self.keys.get(claims.get("iss", ""))
        if key is None:
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid grant: account not found"})
        try:
            key.verify(b64(signature), f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        # google-auth always addresses the assertion to Google's token endpoint, whatever token_uri says.
        if claims.get("aud") not in (f"{self.base}/token", "https://oauth2.googleapis.com/token"):
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT: aud"})
        return Identity(claims.get("sub") or claims["iss"], frozenset(str(claims.get("scope", "")).split()))

    def _client(self, request: Request, form: dict[str, str]) -> str | None:
        """The OAuth client, authenticated by HTTP Basic or by client_id and client_secret in the form."""
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        if client_id is None or secret is None or self.clients.get(client_id) != secret:
            return None
        return client_id

    def _exchange_code(self, form: dict[str, str], client: str) -> Response:
        grant_info = self.codes.pop(form.get("code", ""), None)
        if grant_info is None or grant_info["client_id"] != client:
            return Response(400, {"error": "invalid_grant", "error_description": "Malformed auth code."})
        if form.get("redirect_uri") != grant_info["redirect_uri"]:
            return Response(400, {"error": "redirect_uri_mismatch", "error_description": "Bad Request"})
        if grant_info["challenge"]:
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            if challenge != grant_info["challenge"]:
                return Response(400, {"error": "invalid_grant", "error_description": "Invalid code verifier."})
        refresh = f"1//0g-fake-{next(self.ids)}"
        self.refresh_tokens[refresh] = {"client_id": client, "scopes": grant_info["scopes"],
                                        "user": grant_info["user"]}
        issued = self._issue(Identity(grant_info["user"], frozenset(grant_info["scopes"])))
        return Response(200, {**issued, "refresh_token": refresh})

    # ---- access ------------------------------------------------------------------------------------------

    def _identity(self, request: Request) -> Identity | Response:
        header = request.headers.get("authorization", "")
        identity = self.tokens.get(header.removeprefix("Bearer ").strip()) if header.startswith("Bearer ") else None
        if identity is None:
            return _error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                          "login cookie or other valid authentication credential.", "UNAUTHENTICATED",
                          "authError", location="Authorization", locationType="header")
        if not identity.can(SCOPE_DRIVE, SCOPE_FILE, SCOPE_READONLY, SCOPE_DOCS):
            return _insufficient()
        return identity

    def _shared_with(self, record: FileRecord, identity: Identity) -> str | None:
        if record.owner == identity.email:
            return "owner"
        domain = identity.email.rpartition("@")[2]
        role = record.shared.get(identity.email) or record.shared.get(f"domain:{domain}")
        if role:
            return role
        for parent in record.parents:
            if parent in self.files:
                found = self._shared_with(self.files[parent], identity)
                if found:
                    return found
        return None

    def _file(self, identity: Identity, file_id: str, *, write: bool = False,
              docs: bool = False) -> FileRecord | Response:
        record = self.files.get(file_id)
        reachable = record is not None and (
            identity.can(SCOPE_DRIVE, SCOPE_READONLY) or (docs and identity.can(SCOPE_DOCS))
            or (identity.can(SCOPE_FILE) and record.via_api))
        role = self._shared_with(record, identity) if record is not None and reachable else None
        if record is None or role is None:
            if docs:
                return _error(404, "Requested entity was not found.", "NOT_FOUND")
            return _error(404, f"File not found: {file_id}.", "NOT_FOUND", "notFound", location="fileId",
                          locationType="parameter")
        if write and not (identity.can(SCOPE_DRIVE, SCOPE_FILE) or (docs and identity.can(SCOPE_DOCS))):
            return _insufficient()
        if write and role not in ("owner", "writer", "organizer", "fileOrganizer"):
            return _error(403, "The caller does not have permission", "PERMISSION_DENIED", "insufficientFilePermissions")
        return record

    # ---- Docs ----------------------------------------------------------------------------------------------

    @route("GET", r"/v1/documents/(?P<doc_id>[^/:]+)")
    def get_document(self, request: Request, doc_id: str) -> Response:
        identity = self._identity(request)
        if isinstance(identity, Response):
            return identity
        record = self._file(identity, doc_id, docs=True)
        if isinstance(record, Response):
            return record
        if doc_id not in self.docs:
            return _error(400, "This operation is not supported for this document. The document may be a "
                          "file other than a Google Doc.", "FAILED_PRECONDITION")
        return Response(200, self.document_json(doc_id, request.arg("includeTabsContent") == "true"))

    def document_json(self, doc_id: str, with_tabs: bool = True) -> dict[str, Any]:
        state = self.docs[doc_id]
        out: dict[str, Any] = {"documentId": doc_id, "title": self.files[doc_id].name,
                               "revisionId": state.revision_id, "suggestionsViewMode": "SUGGESTIONS_INLINE"}
        if not with_tabs:
            return {**out, "body": gd.body_json(state.tabs[0].body), "documentStyle": {}, "namedStyles": {}}

        def tab_json(tab: gd.Tab, index: int, level: int, parent: str | None) -> dict[str, Any]:
            props: dict[str, Any] = {"tabId": tab.tab_id, "title": tab.title, "index": index, "nestingLevel": level}
            if parent:
                props["parentTabId"] = parent
            result: dict[str, Any] = {"tabProperties": props,
                                      "documentTab": {"body": gd.body_json(tab.body), "documentStyle": {}}}
            if tab.children:
                result["childTabs"] = [tab_json(c, i, level + 1, tab.tab_id) for i, c in enumerate(tab.children)]
            return result

        return {**out, "tabs": [tab_json(t, i, 0, None) for i, t in enumerate(state.tabs)]}

    @route("POST", r"/v1/documents/(?P<doc_id>[^/:]+):batchUpdate")
    def batch_update(self, request: Request, doc_id: str) -> Response:
        identity = self._identity(request)
        if isinstance(identity, Response):
            return identity
        record = self._file(identity, doc_id, write=True, docs=True)
        if isinstance(record, Response):
            return record
        body = request.json()
        errors = schema_errors("docs.v1", "BatchUpdateDocumentRequest", body)
        if errors:
            return _error(400, "Invalid JSON payload received. " + "; ".join(errors), "INVALID_ARGUMENT")
        state = self.docs[doc_id]
        required = body.get("writeControl", {}).get("requiredRevisionId")
        if required is not None and required != state.revision_id:
            return _error(400, f"The document's revision does not match the required revision ID {required}.",
                          "FAILED_PRECONDITION")
        tabs = gd.clone_tabs(state.tabs)
        editor = gd.Editor(gd.all_tabs(tabs))
        replies = []
        for n, item in enumerate(body.get("requests", [])):
            try:
                replies.append(editor.apply(item))
            except gd.DocsError as exc:
                return _error(400, f"Invalid requests[{n}].{next(iter(item))}: {exc}", "INVALID_ARGUMENT")
        state.tabs = tabs
        self._touch(doc_id)
        return Response(200, {"documentId": doc_id, "replies": replies,
                              "writeControl": {"requiredRevisionId": state.revision_id}})

    # ---- Drive files ----------------------------------------------------------------------------------------

    def _respond(self, request: Request, value: Any, default: str) -> Response:
        return Response(200, masked(value, parse_fields(request.arg("fields") or default)))

    def _validate(self, name: str, body: Any) -> Response | None:
        errors = schema_errors("drive.v3", name, body)
        if errors:
            message = "Invalid JSON payload received. " + "; ".join(errors)
            return _error(400, message, "INVALID_ARGUMENT", "badRequest")
        return None

    def _parents(self, identity: Identity, parents: list[str]) -> Response | None:
        for parent in parents:
            record = self.files.get(parent)
            role = self._shared_with(record, identity) if record is not None else None
            if record is None or record.mime != FOLDER_MIME or role is None:
                return _error(404, f"File not found: {parent}.", "NOT_FOUND", "notFound", location="fileId",
                              locationType="parameter")
            if role not in ("owner", "writer", "organizer", "fileOrganizer"):
                return _error(403, "The user does not have sufficient permissions for this file.",
                              "PERMISSION_DENIED", "insufficientFilePermissions")
        return None

    def _new_file(self, identity: Identity, metadata: dict[str, Any], content: bytes, media_type: str) -> FileRecord:
        now = self.now()
        mime = metadata.get("mimeType") or media_type or "application/octet-stream"
        record = FileRecord(self.new_id(), metadata.get("name") or "Untitled", mime, identity.email, now, now,
                            list(metadata.get("parents", [])), dict(metadata.get("appProperties", {})),
                            via_api=True, content=content)
        if mime == DOC_MIME:
            html = content.decode("utf-8") if media_type in ("text/html", "") else ""
            self.docs[record.id] = DocState([gd.Tab("t.0", "Tab 1", gd.import_html(html))])
            record.content = b""
        self.files[record.id] = record
        return record

    def _property_errors(self, props: dict[str, Any]) -> Response | None:
        for key, value in props.items():
            if value is not None and len(key.encode()) + len(str(value).encode()) > 124:
                return _error(400, f"The property {key} exceeds the maximum size of 124 bytes.", "INVALID_ARGUMENT",
                              "invalidProperty")
        return None

    @route("POST", r"/upload/drive/v3/files")
    def upload(self, request: Request) -> Response:
        identity = self._identity(request)
        if isinstance(identity, Response):
            return identity
        if not identity.can(SCOPE_DRIVE, SCOPE_FILE):
            return _insufficient()
        if request.arg("uploadType") != "multipart":
            return _error(400, "This fake only takes multipart uploads.", "INVALID_ARGUMENT", "badRequest")
        metadata, content, media_type = _multipart(request)
        invalid = self._validate("File", metadata) or self._property_errors(metadata.get("appProperties", {}))
        if invalid:
            return invalid
        invalid = self._parents(identity, metadata.get("parents", []))
        if invalid:
            return invalid
        record = self._new_file(identity, metadata, content, media_type)
        return self._respond(request, record.resource(), "kind,id,name,mimeType")

    @route("POST", r"/drive/v3/files/(?P<file_id>[^/]+)/copy")
    def copy_file(self, request: Request, file_id: str) -> Response:
        identity = self._identity(request)
        if isinstance(identity, Response):
            return identity
        if not identity.can(SCOPE_DRIVE, SCOPE_FILE):
            return _insufficient()
        source = self._file(identity, file_id)
        if isinstance(source, Response):
            return source
        body = request.json() or {}
        invalid = (self._validate("File", body) or self._property_errors(body.get("appProperties", {}))
                   or self._parents(identity, body.get("parents", [])))
        if invalid:
            return invalid
        now = self.now()
        record = FileRecord(self.new_id(), body.get("name") or f"Copy of {source.name}", source.mime, identity.email,
                            now, now, list(body.get("parents", source.parents)), dict(body.get("appProperties", {})),
                            via_api=True, content=source.content)
        self.files[record.id] = record
        if file_id in self.docs:
            self.docs[record.id] = DocState(gd.clone_tabs(self.docs[file_id].tabs))
        return self._respond(request, record.resource(), "kind,id,name,mimeType")

    @route("GET", r"/drive/v3/files")
    def list_files(self, request: Request) -> Response:
        identity = self._identity(request)
        if isinstance(identity, Response):
            return identity
        try:
            matches = _query(request.arg("q") or "")
        except ValueError as exc:
            return _error(400, f"Invalid Value: {exc}", "INVALID_ARGUMENT", "invalid", location="q",
                          locationType="parameter")
        page_size = min(int(request.arg("pageSize") or 100), 1000)
        found = [r for r in self.files.values()
                 if not isinstance(self._file(identity, r.id), Response) and matches(r)]
        start = int(base64.urlsafe_b64decode(request.arg("pageToken") or "MA==").decode() or 0)
        page = found[start : start + page_size]
        result: dict[str, Any] = {"kind": "drive#fileList", "incompleteSearch": False,
                                  "files": [r.resource() for r in page]}
        if start + page_size < len(found):
            result["nextPageToken"] = base64.urlsafe_b64encode(str(start + page_size).encode()).decode()
        return self._respond(request, result, "kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)")

    @route("GET", r"/drive/v3/files/(?P<file_id>[^/]+)")
    def get_file(self, request: Request, file_id: str) -> Response:
        identity = self._identity(request)
        if isinstance(identity, Response):
            return identity
        record = self._file(identity, file_id)
        if isinstance(record, Response):
            return record
        if request.arg("alt") == "media":
            if record.mime.startswith("application/vnd.google-apps."):
                return _error(403, "Only files with binary content can be downloaded. Use Export with Docs Editors "
                              "files.", "PERMISSION_DENIED", "fileNotDownloadable", location="alt",
                              locationType="parameter")
            return Response(200, record.content, {"Content-Type": "application/octet-stream"})
        return self._respond(request, record.resource(), "kind,id,name,mimeType")

    @route("PATCH", r"/drive/v3/files/(?P<file_id>[^/]+)")
    def update_file(self, request: Request, file_id: str) -> Response:
        return self._update(request, file_id, request.json() or {}, None)

    @route("PATCH", r"/upload/drive/v3/files/(?P<file_id>[^/]+)")
    def upload_update(self, request: Request, file_id: str) -> Response:
        metadata, content, _ = _multipart(request)
        return self._update(request, file_id, metadata, content)

    def _update(self, request: Request, file_id: str, body: dict[str, Any], content: bytes | None) -> Response:
        identity = self._identity(request)
        if isinstance(identity, Response):
            return identity
        record = self._file(identity, file_id, write=True)
        if isinstance(record, Response):
            return record
        invalid = self._validate("File", body) or self._property_errors(body.get("appProperties", {}))
        if invalid:
            return invalid
        for key, value in body.get("appProperties", {}).items():
            if value is None:
                record.app_properties.pop(key, None)
            else:
                record.app_properties[key] = str(value)
        if len(record.app_properties) > 30:
            return _error(400, "The limit of 30 properties per app per file has been exceeded.", "INVALID_ARGUMENT",
                          "propertyLimitExceeded")
        if "name" in body:
            record.name = body["name"]
            record.modified = self.now()
        if content is not None:
            record.content = content
            record.modified = self.now()
        return self._respond(request, record.resource(), "kind,id,name,mimeType")

    @route("GET", r"/drive/v3/about")
    def about(self, request: Request) -> Response:
        identity = self._identity(request)
        if isinstance(identity, Response):
            return identity
        user = {"kind": "drive#user", **self.people.get(identity.email, {"displayName": identity.email}),
                "emailAddress": identity.email, "me": True}
        if not request.arg("fields"):
            return _error(400, "The 'fields' parameter is required for this method.", "INVALID_ARGUMENT",
                          "required", location="fields", locationType="parameter")
        return self._respond(request, {"kind": "drive#about", "user": user}, "")

    # ---- sharing ----------------------------------------------------------------------------------------

    @route("POST", r"/drive/v3/files/(?P<file_id>[^/]+)/permissions")
    def create_permission(self, request: Request, file_id: str) -> Response:
        identity = self._identity(request)
        if isinstance(identity, Response):
            return identity
        record = self._file(identity, file_id, write=True)
        if isinstance(record, Response):
            return record
        body = request.json() or {}
        invalid = self._validate("Permission", body)
        if invalid:
            return invalid
        kind, role = body.get("type"), body.get("role")
        if kind not in ("user", "group", "domain", "anyone") or not role:
            return _error(400, "The permission type and role are required.", "INVALID_ARGUMENT", "required")
        grantee = {"domain": f"domain:{body.get('domain')}", "anyone": "anyone"}.get(kind, body.get("emailAddress"))
        record.shared[str(grantee)] = str(role)
        if request.arg("sendNotificationEmail", "true" if kind in ("user", "group") else "false") == "true":
            self.notifications.append({"to": grantee, "file": file_id, "message": request.arg("emailMessage")})
        return self._respond(request, {"kind": "drive#permission", "id": f"p{next(self.ids)}", "type": kind,
                                       "role": role}, "kind,id,type,role")

    # ---- comments -----------------------------------------------------------------------------------------

    def _author(self, email: str, viewer: Identity | None) -> dict[str, Any]:
        info = self.people.get(email, {"displayName": email.split("@")[0], "permissionId": "0"})
        author = {"kind": "drive#user", "displayName": info["displayName"], "permissionId": info["permissionId"],
                  "me": viewer is not None and viewer.email == email}
        if author["me"]:
            author["emailAddress"] = email  # Drive hides other people's e-mail addresses
        return author

    def _comment_json(self, comment: dict[str, Any], viewer: Identity) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in comment.items() if k not in ("author_email", "replies")}
        out["kind"] = "drive#comment"
        out["author"] = self._author(comment["author_email"], viewer)
        out["replies"] = [self._reply_json(r, viewer) for r in comment["replies"]]
        if comment.get("deleted"):
            out.pop("content", None)
            out.pop("htmlContent", None)
        return out

    def _reply_json(self, reply: dict[str, Any], viewer: Identity) -> dict[str, Any]:
        out = {k: v for k, v in reply.items() if k != "author_email"}
        out["kind"] = "drive#reply"
        out["author"] = self._author(reply["author_email"], viewer)
        if reply.get("deleted"):
            out.pop("content", None)
            out.pop("htmlContent", None)
        return out

    def _new_comment(self, file_id: str, author: str, body: dict[str, Any]) -> dict[str, Any]:
        now = self.now()
        comment = {"id": f"AAAB{next(self.ids):07d}", "author_email": author, "content": body["content"],
                   "htmlContent": body["content"], "createdTime": now, "modifiedTime": now, "resolved": False,
                   "deleted": False, "replies": []}
        if "quotedFileContent" in body:
            comment["quotedFileContent"] = dict(body["quotedFileContent"])
            comment["anchor"] = json.dumps({"r": "head", "a": [{"txt": {"o": 0, "l": len(body["quotedFileContent"]
                                                                                          .get("value", ""))}}]})
        self.comments.setdefault(file_id, []).append(comment)
        return comment

    def _new_reply(self, file_id: str, comment_id: str, author: str, body: dict[str, Any]) -> dict[str, Any]:
        comment = next(c for c in self.comments.get(file_id, []) if c["id"] == comment_id)
        now = self.now()
        reply = {"id": f"AAAC{next(self.ids):07d}", "author_email": author, "createdTime": now, "modifiedTime": now,
                 "deleted": False}
        if body.get("content"):
            reply["content"] = reply["htmlContent"] = body["content"]
        if body.get("action"):
            reply["action"] = body["action"]
            comment["resolved"] = body["action"] == "resolve"
        comment["replies"].append(reply)
        comment["modifiedTime"] = now
        return reply

    def _fields_required(self, request: Request) -> Response | None:
        if not request.arg("fields"):
            return _error(400, "The 'fields' parameter is required for this method.", "INVALID_ARGUMENT",
                          "required", location="fields", locationType="parameter")
        return None

    @route("GET", r"/drive/v3/files/(?P<file_id>[^/]+)/comments")
    def list_comments(self, request: Request, file_id: str) -> Response:
        identity = self._identity(request)
        if isinstance(identity, Response):
            return identity
        record = self._file(identity, file_id)
        if isinstance(record, Response):
            return record
        missing = self._fields_required(request)
        if missing:
            return missing
        everything = [c for c in self.comments.get(file_id, [])
                      if request.arg("includeDeleted") == "true" or not c.get("deleted")]
        page_size = min(int(request.arg("pageSize") or 20), 100)
        start = int(request.arg("pageToken") or 0)
        result: dict[str, Any] = {"kind": "drive#commentList",
                                  "comments": [self._comment_json(c, identity)
                                               for c in everything[start : start + page_size]]}
        if start + page_size < len(everything):
            result["nextPageToken"] = str(start + page_size)
        return self._respond(request, result, "")

    @route("POST", r"/drive/v3/files/(?P<file_id>[^/]+)/comments")
    def create_comment(self, request: Request, file_id: str) -> Response:
        identity = self._identity(request)
        if isinstance(identity, Response):
            return identity
        record = self._file(identity, file_id)
        if isinstance(record, Response):
            return record
        body = request.json() or {}
        invalid = self._fields_required(request) or self._validate("Comment", body)
        if invalid:
            return invalid
        if not body.get("content"):
            return _error(400, "A comment needs content.", "INVALID_ARGUMENT", "required", location="content",
                          locationType="other")
        comment = self._new_comment(file_id, identity.email, body)
        return self._respond(request, self._comment_json(comment, identity), "")

    @route("POST", r"/drive/v3/files/(?P<file_id>[^/]+)/comments/(?P<comment_id>[^/]+)/replies")
    def create_reply(self, request: Request, file_id: str, comment_id: str) -> Response:
        identity = self._identity(request)
        if isinstance(identity, Response):
            return identity
        record = self._file(identity, file_id)
        if isinstance(record, Response):
            return record
        body = request.json() or {}
        invalid = self._fields_required(request) or self._validate("Reply", body)
        if invalid:
            return invalid
        if not any(c["id"] == comment_id for c in self.comments.get(file_id, [])):
            return _error(404, f"Comment not found: {comment_id}.", "NOT_FOUND", "notFound", location="commentId",
                          locationType="parameter")
        if not body.get("content") and body.get("action") not in ("resolve", "reopen"):
            return _error(400, "A reply needs content or an action.", "INVALID_ARGUMENT", "required")
        reply = self._new_reply(file_id, comment_id, identity.email, body)
        return self._respond(request, self._reply_json(reply, identity), "")

    # ---- batches ----------------------------------------------------------------------------------------

    @route("POST", r"/batch/drive/v3")
    def batch(self, request: Request) -> Response:
        boundary = "batch_fake_boundary"
        parts = []
        for content_id, inner in _batch_parts(request):
            self.batched.append(inner)
            response = self._dispatch_inner(inner)
            payload, content_type = response.encode()
            parts.append(
                f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <response-{content_id}>\r\n\r\n"
                f"HTTP/1.1 {response.status} X\r\nContent-Type: {content_type}\r\n\r\n".encode() + payload + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return Response(200, body, {"Content-Type": f"multipart/mixed; boundary={boundary}"})

    def _dispatch_inner(self, inner: Request) -> Response:
        for method, pattern, handler in self._routes:
            match = pattern.match(inner.path)
            if match and method == inner.method:
                result: Response = handler(inner, **match.groupdict())
                return result
        return self.not_found(inner)


def _insufficient() -> Response:
    return _error(403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED",
                  "insufficientPermissions")


def _multipart(request: Request) -> tuple[dict[str, Any], bytes, str]:
    """(metadata, media, media type) of a multipart/related upload."""
    head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    parts = list(message.iter_parts())
    metadata = json.loads(parts[0].get_payload(decode=True) or b"{}")
    media = parts[1].get_payload(decode=True) if len(parts) > 1 else b""
    media_type = parts[1].get_content_type() if len(parts) > 1 else ""
    return metadata, bytes(media or b""), media_type


def _batch_parts(request: Request) -> Iterator[tuple[str, Request]]:
    head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    for part in message.iter_parts():
        content_id = str(part.get("Content-ID", "")).strip("<>")
        raw = part.get_payload(decode=False)
        raw = raw if isinstance(raw, str) else str(raw)
        request_line, _, rest = raw.replace("\r\n", "\n").partition("\n")
        headers_text, _, body = rest.partition("\n\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {}
        for line in headers_text.split("\n"):
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        parts = urlsplit(target)
        yield content_id, Request(method, parts.path, parse_qs(parts.query, keep_blank_values=True), headers,
                                  body.encode())


_CLAUSE = re.compile(
    r"\s*(?:"
    r"appProperties\s+has\s+\{\s*key\s*=\s*'(?P<pk>(?:[^'\\]|\\.)*)'\s+and\s+value\s*=\s*'(?P<pv>(?:[^'\\]|\\.)*)'\s*\}"
    r"|trashed\s*=\s*(?P<trashed>true|false)"
    r"|mimeType\s*(?P<mop>=|!=)\s*'(?P<mime>(?:[^'\\]|\\.)*)'"
    r"|modifiedTime\s*(?P<top>>|>=|<|<=)\s*'(?P<time>[^']*)'"
    r"|'(?P<parent>(?:[^'\\]|\\.)*)'\s+in\s+parents"
    r"|name\s*=\s*'(?P<name>(?:[^'\\]|\\.)*)'"
    r")\s*(?:and\s+|$)"
)


def _unq(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _query(q: str) -> Any:
    """A predicate for the subset of the Drive query language this fake understands ('and' of clauses)."""
    tests = []
    pos = 0
    while pos < len(q):
        m = _CLAUSE.match(q, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot parse query at {q[pos:pos + 40]!r}")
        pos = m.end()
        if m.group("pk") is not None:
            key, value = _unq(m.group("pk")), _unq(m.group("pv"))
            tests.append(lambda r, k=key, v=value: r.app_properties.get(k) == v)
        elif m.group("trashed"):
            flag = m.group("trashed") == "true"
            tests.append(lambda r, f=flag: r.trashed == f)
        elif m.group("mime") is not None:
            mime, negate = _unq(m.group("mime")), m.group("mop") == "!="
            tests.append(lambda r, t=mime, n=negate: (r.mime == t) != n)
        elif m.group("time") is not None:
            from ops_postmortem.timeutil import parse_time

            bound, op = parse_time(m.group("time")), m.group("top")
            compare = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
                       "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}[op]
            tests.append(lambda r, b=bound, c=compare: c(parse_time(r.modified), b))
        elif m.group("parent") is not None:
            parent = _unq(m.group("parent"))
            tests.append(lambda r, p=parent: p in r.parents)
        else:
            name = _unq(m.group("name"))
            tests.append(lambda r, n=name: r.name == n)
    return lambda record: all(t(record) for t in tests)


@contextmanager
def fake_google() -> Iterator[FakeGoogle]:
    """The fake on an HTTPS port; `fake.base` is its address (set HTTPLIB2_CA_CERTS to tls_files()[0])."""
    fake = FakeGoogle()
    with serve(fake, tls=server_context()) as base:
        fake.base = base
        yield fake
