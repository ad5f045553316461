"""Thin calls over google-api-python-client: the two services built once per run, every call mapped to our
error tree and retried by the shared policy (never a create: the store makes those safe by looking up first).

Tests run this same code against a fake Google: they only change the endpoints and the credentials file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, TypeVar
from urllib.parse import urljoin

from ops_postmortem.connectors.http import RetryPolicy, connection_error, error_for_status, scrub
from ops_postmortem.errors import AuthError, ConflictError, NotFoundError, PostmortemError, ServiceError

SERVICE = "google"
DOC_MIME = "application/vnd.google-apps.document"
FILE_FIELDS = "id,name,webViewLink,createdTime,modifiedTime,appProperties,parents"
_PERSON = "author(displayName,emailAddress,me,permissionId)"
COMMENT_FIELDS = (
    f"id,{_PERSON},content,createdTime,modifiedTime,resolved,deleted,quotedFileContent(value),"
    f"replies(id,{_PERSON},content,createdTime,action,deleted)"
)
REPLY_FIELDS = f"id,{_PERSON},content,createdTime,action,deleted"
RATE_REASONS = ("rateLimitExceeded", "userRateLimitExceeded")
T = TypeVar("T")


@dataclass(frozen=True)
class Share:
    """One permission to grant: Drive Permission body, and whether Google e-mails the grantee."""

    body: Mapping[str, Any]
    notify: bool = False
    message: str | None = None


class GoogleApi:
    def __init__(
        self,
        credentials: Any,
        *,
        docs_endpoint: str = "https://docs.googleapis.com/",
        drive_endpoint: str = "https://www.googleapis.com/drive/v3/",
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        account: str | None = None,
    ) -> None:
        import google_auth_httplib2
        import httplib2
        from googleapiclient.discovery import build

        # HTTPLIB2_CA_CERTS is httplib2's own setting, read here so it counts whenever it was set
        # (a TLS-inspecting proxy's CA; the tests' fake Google).
        http = google_auth_httplib2.AuthorizedHttp(
            credentials, http=httplib2.Http(timeout=timeout, ca_certs=os.environ.get("HTTPLIB2_CA_CERTS") or None)
        )
        self.credentials = credentials
        self.docs = build("docs", "v1", http=http, static_discovery=True, cache_discovery=False,
                          client_options={"api_endpoint": docs_endpoint})
        self.drive = build("drive", "v3", http=http, static_discovery=True, cache_discovery=False,
                           client_options={"api_endpoint": drive_endpoint})
        # The client takes the batch address from the discovery document's rootUrl, not the configured endpoint.
        self.batch_uri = urljoin(drive_endpoint, "/batch/drive/v3")
        self.retry = retry or RetryPolicy()
        # A service account names itself; a user account is asked of Drive only when an error needs it.
        self.account = account or getattr(credentials, "service_account_email", None)

    # Each resource call builds every method with its docstring (slow for Docs' schemas): build each once.
    @cached_property
    def documents(self) -> Any:
        return self.docs.documents()

    @cached_property
    def files(self) -> Any:
        return self.drive.files()

    @cached_property
    def permissions(self) -> Any:
        return self.drive.permissions()

    @cached_property
    def comments(self) -> Any:
        return self.drive.comments()

    @cached_property
    def replies(self) -> Any:
        return self.drive.replies()

    # ---- calling ---------------------------------------------------------------------------------------

    def _execute(self, request: Any, what: str) -> Any:
        from google.auth.exceptions import RefreshError, TransportError
        from googleapiclient.errors import HttpError
        from googleapiclient.http import BatchHttpRequest

        try:
            if isinstance(request, BatchHttpRequest):
                return request.execute()
            return request.execute(num_retries=0)
        except HttpError as exc:
            raise self.error(exc, what) from exc
        except RefreshError as exc:
            raise AuthError(f"the token endpoint refused the credentials ({scrub(str(exc))[:200]})",
                            service=SERVICE, hint="check [google] credentials_file (and subject), "
                            "or run `postmortem auth google` again") from exc
        except (TransportError, OSError) as exc:
            raise connection_error(SERVICE, exc) from exc
        except Exception as exc:
            import httplib2

            if isinstance(exc, httplib2.HttpLib2Error):
                raise connection_error(SERVICE, exc) from exc
            raise

    def call(self, request_fn: Callable[[], Any], what: str, *, retry: bool = True) -> Any:
        """Build and execute a request; retried by the shared policy unless it is a create."""
        if not retry:
            return self._execute(request_fn(), what)
        return self.retry.call(lambda: self._execute(request_fn(), what))

    def error(self, exc: Any, what: str) -> PostmortemError:
        status = int(exc.resp.status)
        try:
            body = json.loads(exc.content or b"{}").get("error", {})
        except (ValueError, AttributeError):
            body = {}
        body = body if isinstance(body, dict) else {}
        message = str(body.get("message") or exc.reason or f"HTTP {status}")
        reasons = [e.get("reason") for e in body.get("errors", []) if isinstance(e, dict)]
        headers = {str(k): str(v) for k, v in dict(exc.resp).items()}
        if status == 404:
            return NotFoundError(
                f"{what.split(' ')[0]} not found, or not shared with {self.who()}",
                service=SERVICE, status=404,
                hint=f"check {what}, and share it (or its folder) with that account",
            )
        rate_limited = status == 403 and any(r in RATE_REASONS for r in reasons)
        auth_hint = None
        if status in (401, 403) and not rate_limited:
            auth_hint = (f"{self.who()} may not do this to {what}: share it with that account as an editor, "
                         "and check the API is enabled and the scopes granted (see the README's Google section)")
        return error_for_status(SERVICE, status, f"{what}: {message}", headers=headers,
                                rate_limited=rate_limited, auth_hint=auth_hint)

    def who(self) -> str:
        """The account we act as, for error messages; asked of Drive only when an error needs it."""
        if self.account is None:
            try:
                about = self._execute(self.drive.about().get(fields="user(emailAddress)"), "the account")
                self.account = str(about.get("user", {}).get("emailAddress") or "")
            except PostmortemError:
                self.account = ""
        return self.account or "the configured Google account"

    # ---- Docs --------------------------------------------------------------------------------------------

    def get_document(self, doc_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            lambda: self.documents.get(documentId=doc_id, includeTabsContent=True), f"document {doc_id}")
        return result

    def batch_update(self, doc_id: str, requests: Sequence[Mapping[str, Any]], *,
                     revision: str | None) -> dict[str, Any]:
        """One atomic batchUpdate; guarded by `revision` it is safe to retry and a stale revision is a conflict."""
        body: dict[str, Any] = {"requests": list(requests)}
        if revision:
            body["writeControl"] = {"requiredRevisionId": revision}
        try:
            result: dict[str, Any] = self.call(
                lambda: self.documents.batchUpdate(documentId=doc_id, body=body),
                f"document {doc_id}", retry=revision is not None)
        except ServiceError as exc:
            # Requests computed from the same read as the revision are valid by construction, so a 400 on a
            # guarded write means the revision moved (Google does not document that error's wording).
            if revision is not None and exc.status == 400:
                raise ConflictError(f"document {doc_id} changed since it was read ({exc.message})",
                                    hint="read it again and retry") from exc
            raise
        return result

    # ---- Drive files ---------------------------------------------------------------------------------------

    def create_file(self, metadata: Mapping[str, Any], media: bytes, mimetype: str) -> dict[str, Any]:
        from googleapiclient.http import MediaInMemoryUpload

        result: dict[str, Any] = self.call(
            lambda: self.files.create(
                body=dict(metadata), media_body=MediaInMemoryUpload(media, mimetype=mimetype, resumable=False),
                supportsAllDrives=True, fields=FILE_FIELDS),
            f"folder {','.join(metadata.get('parents', [])) or 'My Drive'}", retry=False)
        return result

    def copy_file(self, file_id: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            lambda: self.files.copy(fileId=file_id, body=dict(metadata), supportsAllDrives=True,
                                            fields=FILE_FIELDS),
            f"template document {file_id}", retry=False)
        return result

    def get_file(self, file_id: str, fields: str = FILE_FIELDS) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            lambda: self.files.get(fileId=file_id, supportsAllDrives=True, fields=fields),
            f"document {file_id}")
        return result

    def update_file(self, file_id: str, metadata: Mapping[str, Any], media: bytes | None = None,
                    mimetype: str = "application/octet-stream") -> dict[str, Any]:
        """Metadata (and content) of a file; setting values is idempotent, so it is retried."""
        def request() -> Any:
            media_body = None
            if media is not None:
                from googleapiclient.http import MediaInMemoryUpload

                media_body = MediaInMemoryUpload(media, mimetype=mimetype, resumable=False)
            return self.files.update(fileId=file_id, body=dict(metadata), media_body=media_body,
                                             supportsAllDrives=True, fields=FILE_FIELDS)

        result: dict[str, Any] = self.call(request, f"file {file_id}")
        return result

    def download(self, file_id: str) -> bytes:
        return bytes(self.call(lambda: self.files.get_media(fileId=file_id, supportsAllDrives=True),
                               f"file {file_id}"))

    def list_files(self, query: str, fields: str = FILE_FIELDS, *, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every file matching `query` in every drive the account sees, page after page."""
        token: str | None = None
        while True:
            page = self.call(partial(
                self.files.list, q=query, corpora="allDrives", includeItemsFromAllDrives=True,
                supportsAllDrives=True, pageSize=page_size, pageToken=token, fields=f"nextPageToken,files({fields})"),
                "the postmortem search")
            yield from page.get("files", [])
            token = page.get("nextPageToken")
            if not token:
                return

    # ---- sharing --------------------------------------------------------------------------------------------

    def share(self, file_id: str, shares: Sequence[Share]) -> None:
        """Grant every permission in one HTTP call (a Drive batch when there are several)."""
        if len(shares) == 1:
            share = shares[0]
            self.call(lambda: self._permission(file_id, share), f"document {file_id}")
        elif shares:
            pending = list(shares)
            self.retry.call(lambda: self._share_batch(file_id, pending))

    def _permission(self, file_id: str, share: Share) -> Any:
        options: dict[str, Any] = {"sendNotificationEmail": share.notify}
        if share.notify and share.message:
            options["emailMessage"] = share.message
        return self.permissions.create(fileId=file_id, body=dict(share.body), supportsAllDrives=True,
                                               fields="id", **options)

    def _share_batch(self, file_id: str, pending: list[Share]) -> None:
        """Run the pending grants as one batch; the ones that succeed leave `pending`, the first failure raises."""
        from googleapiclient.errors import HttpError
        from googleapiclient.http import BatchHttpRequest

        failures: dict[str, BaseException] = {}

        def done(request_id: str, _response: Any, exception: BaseException | None) -> None:
            if exception is not None:
                failures[request_id] = exception

        batch = BatchHttpRequest(callback=done, batch_uri=self.batch_uri)
        for n, share in enumerate(pending):
            batch.add(self._permission(file_id, share), request_id=str(n))
        self._execute(batch, f"document {file_id}")
        pending[:] = [s for n, s in enumerate(pending) if str(n) in failures]
        for exc in failures.values():
            raise self.error(exc, f"document {file_id}") if isinstance(exc, HttpError) else exc

    # ---- comments ------------------------------------------------------------------------------------------

    def list_comments(self, file_id: str) -> Iterator[dict[str, Any]]:
        """Every comment with its replies; Drive v3 requires `fields` on comment calls."""
        token: str | None = None
        while True:
            page = self.call(partial(
                self.comments.list, fileId=file_id, pageSize=100, pageToken=token, includeDeleted=False,
                fields=f"nextPageToken,comments({COMMENT_FIELDS})"), f"document {file_id}")
            yield from page.get("comments", [])
            token = page.get("nextPageToken")
            if not token:
                return

    def create_comment(self, file_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            lambda: self.comments.create(fileId=file_id, body=dict(body), fields=COMMENT_FIELDS),
            f"document {file_id}", retry=False)
        return result

    def create_reply(self, file_id: str, comment_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            lambda: self.replies.create(fileId=file_id, commentId=comment_id, body=dict(body),
                                                fields=REPLY_FIELDS),
            f"comment {comment_id} on document {file_id}", retry=False)
        return result


def retry_safely(policy: RetryPolicy, attempt: Callable[[], T], lookup: Callable[[], T | None]) -> T:
    """A create retried only after looking for what a lost response may have created already."""
    tried = False

    def once() -> T:
        nonlocal tried
        if tried:
            found = lookup()
            if found is not None:
                return found
        tried = True
        return attempt()

    return policy.call(once)
