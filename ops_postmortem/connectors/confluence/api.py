"""Thin calls over atlassian-python-api, with the implementation classes pinned.

`atlassian.Confluence` picks its implementation from the URL (a different class for `*.atlassian.net` than for
any other host), so production and tests would run different code. We construct the classes ourselves:
`atlassian.confluence.server.Server` for REST v1 (`/rest/api`, served by Cloud under /wiki and by Data Center),
and on Cloud `atlassian.confluence.cloud.cloud.ConfluenceCloud` (what `atlassian.ConfluenceV2` names) for the v2
comment endpoints. We call the documented paths through the clients' request methods: the library's own v2 comment
helpers post to `/api/v2/comments`, which the published v2 spec does not have, and its v1 paging drops Cloud's
/wiki from `_links.next`.

Library retries are off (its 429 retry applies to POSTs too). Reads go through our RetryPolicy (429 and 5xx,
Retry-After honoured); writes are never retried here: the store makes them safe (version checks, lookups).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from ops_postmortem.connectors.confluence.settings import ConfluenceSettings
from ops_postmortem.connectors.http import RetryPolicy, connection_error, error_for_status, scrub
from ops_postmortem.errors import NotFoundError, PostmortemError, ServiceError

SERVICE = "confluence"
PAGE_SIZE = 100
T = TypeVar("T")
JSON = dict[str, Any]


def next_url(base_url: str, links: Mapping[str, Any], *, v2: bool) -> str | None:
    """The absolute URL of a list's next page, or None at its end.

    v1 gives `_links.next` relative to the site's context path (`/rest/api/...`, under /wiki on Cloud); v2 gives
    it with the context (`/wiki/api/v2/...`). Only our configured site is ever followed, so credentials never
    go to a host a response names."""
    target = links.get("next")
    if not isinstance(target, str) or not target:
        return None
    site = urlsplit(base_url)
    root = f"{site.scheme}://{site.netloc}"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        if f"{parts.scheme}://{parts.netloc}" != root:
            raise ServiceError(f"the next page of a list points to another host ({parts.netloc})", service=SERVICE,
                               hint="check [confluence] url: it must be the address the site answers on")
        return target
    if not target.startswith("/"):
        target = "/" + target
    return root + target if v2 else base_url.rstrip("/") + target


def _message(response: requests.Response) -> str:
    """The service's own words from a v1 ({"message"}) or v2 ({"errors": [{"title"}]}) error body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return str(body["message"])
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("title") or errors[0].get("detail") or errors[0])
    return str(body)[:300]


def translate(exc: BaseException, what: str) -> PostmortemError:
    """A client-library failure as our error, naming what we were doing; the status decides the kind."""
    response = getattr(exc, "response", None)
    if response is None:
        response = getattr(getattr(exc, "reason", None), "response", None)  # atlassian.errors.ApiError
    if isinstance(response, requests.Response):
        return error_for_status(
            SERVICE,
            response.status_code,
            f"{what}: {_message(response)}",
            headers=dict(response.headers),
            not_found_hint="check the page id or URL, and that the account in [confluence] can see the space",
            auth_hint="check [confluence] username and token (Cloud: e-mail and API token; Data Center: a personal "
                      "access token) and the account's space permissions",
        )
    if isinstance(exc, requests.RequestException):
        return connection_error(SERVICE, exc)
    return ServiceError(f"{what}: {scrub(str(exc))[:300]}", service=SERVICE)


class ConfluenceApi:
    """One site's REST endpoints, as the store needs them."""

    def __init__(
        self,
        settings: ConfluenceSettings,
        *,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        timeout: int = 30,
    ) -> None:
        self.settings = settings
        self.base_url = settings.url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.session = session or requests.Session()
        self.v1, self.v2 = _clients(settings, self.session, timeout)

    # ---- plumbing -------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except PostmortemError:
            raise
        except Exception as exc:  # the library raises requests and atlassian errors alike
            raise translate(exc, what) from exc

    def read(self, what: str, fn: Callable[[], T]) -> T:
        """A read: retried on 429 and 5xx per the shared policy."""
        return self.retry.call(lambda: self._call(what, fn))

    def write(self, what: str, fn: Callable[[], T]) -> T:
        """A write: never retried blindly."""
        return self._call(what, fn)

    def _list(self, what: str, client: Any, path: str, params: Mapping[str, Any], *, v2: bool) -> Iterator[JSON]:
        """Every item of a paginated list, following `_links.next` page by page."""
        request: tuple[str, Mapping[str, Any] | None, bool] = (path, params, False)
        while True:
            url, query, absolute = request
            data = self.read(what, partial(client.get, url, params=query, absolute=absolute))
            if not isinstance(data, dict):
                raise ServiceError(f"{what}: unexpected answer {str(data)[:100]!r}", service=SERVICE)
            yield from data.get("results") or []
            following = next_url(self.base_url, data.get("_links") or {}, v2=v2)
            if following is None:
                return
            request = (following, None, True)

    def _v2(self) -> Any:
        if self.v2 is None:
            raise ServiceError("this call needs Confluence Cloud's v2 API", service=SERVICE,
                               hint='set [confluence] deployment = "cloud" only for Atlassian Cloud sites')
        return self.v2

    # ---- pages ------------------------------------------------------------------------------------

    def get_page(self, page_id: str, expand: str) -> JSON:
        data: JSON = self.read(f"reading page {page_id}",
                               lambda: self.v1.get(f"rest/api/content/{page_id}", params={"expand": expand}))
        return data

    def page_by_title(self, space: str, title: str, expand: str) -> JSON | None:
        """The page with this exact title in the space (a consistent read, unlike a search)."""
        params = {"spaceKey": space, "title": title, "type": "page", "expand": expand, "limit": 1}
        found = list(self._list("looking up a page by title", self.v1, "rest/api/content", params, v2=False))
        return found[0] if found else None

    def search(self, cql: str, expand: str) -> Iterator[JSON]:
        """Pages matching a CQL query, every page of results."""
        params = {"cql": cql, "expand": expand, "limit": PAGE_SIZE}
        return self._list("searching pages", self.v1, "rest/api/content/search", params, v2=False)

    def create_page(self, body: JSON) -> JSON:
        data: JSON = self.write("creating the page", lambda: self.v1.post("rest/api/content", data=body))
        return data

    def update_page(self, page_id: str, body: JSON) -> JSON:
        data: JSON = self.write(f"updating page {page_id}",
                                lambda: self.v1.put(f"rest/api/content/{page_id}", data=body))
        return data

    # ---- content properties ---------------------------------------------------------------------

    def get_property(self, page_id: str, key: str) -> JSON | None:
        try:
            data: JSON = self.read(f"reading property {key} of page {page_id}",
                                   lambda: self.v1.get(f"rest/api/content/{page_id}/property/{key}"))
        except NotFoundError:
            return None
        return data

    def create_property(self, page_id: str, key: str, value: Any) -> JSON:
        data: JSON = self.write(f"creating property {key} on page {page_id}", lambda: self.v1.post(
            f"rest/api/content/{page_id}/property", data={"key": key, "value": value}))
        return data

    def update_property(self, page_id: str, key: str, value: Any, version: int) -> JSON:
        body = {"key": key, "value": value, "version": {"number": version, "minorEdit": True}}
        data: JSON = self.write(f"updating property {key} of page {page_id}", lambda: self.v1.put(
            f"rest/api/content/{page_id}/property/{key}", data=body))
        return data

    # ---- restrictions and attachments ------------------------------------------------------------

    def set_restrictions(self, page_id: str, restrictions: Sequence[JSON]) -> None:
        self.write(f"restricting page {page_id}",
                   lambda: self.v1.put(f"rest/api/content/{page_id}/restriction", data=list(restrictions)))

    def attachments(self, page_id: str) -> list[JSON]:
        params = {"limit": PAGE_SIZE}
        return list(self._list(f"listing attachments of page {page_id}", self.v1,
                               f"rest/api/content/{page_id}/child/attachment", params, v2=False))

    def upload(self, page_id: str, name: str, data: bytes, media_type: str, attachment_id: str | None) -> JSON:
        """A new attachment, or a new version of an existing one (Data Center has no PUT for this)."""
        path = f"rest/api/content/{page_id}/child/attachment"
        if attachment_id is not None:
            path += f"/{attachment_id}/data"
        headers = {"X-Atlassian-Token": "no-check", "Accept": "application/json"}
        files = {"file": (name, data, media_type)}
        result: JSON = self.write(f"attaching {name} to page {page_id}", lambda: self.v1.post(
            path, data={"minorEdit": "true", "comment": "evidence archived by ops-postmortem"},
            files=files, headers=headers))
        return result

    # ---- comments ---------------------------------------------------------------------------------

    def comments_v1(self, page_id: str) -> list[JSON]:
        """Footer and inline comments with every reply, in one paginated list (Data Center)."""
        params = {"expand": "body.storage,history,version,ancestors,extensions.inlineProperties,"
                            "extensions.resolution", "depth": "all", "limit": PAGE_SIZE}
        return list(self._list(f"reading comments of page {page_id}", self.v1,
                               f"rest/api/content/{page_id}/child/comment", params, v2=False))

    def comments_v2(self, page_id: str, kind: str) -> list[JSON]:
        """Top-level footer or inline comments with their storage bodies (Cloud)."""
        params = {"body-format": "storage", "limit": 250}
        return list(self._list(f"reading {kind} comments of page {page_id}", self._v2(),
                               f"api/v2/pages/{page_id}/{kind}-comments", params, v2=True))

    def replies_v2(self, kind: str, comment_id: str) -> list[JSON]:
        params = {"body-format": "storage", "limit": 250}
        return list(self._list(f"reading replies to comment {comment_id}", self._v2(),
                               f"api/v2/{kind}-comments/{comment_id}/children", params, v2=True))

    def comment_v2(self, kind: str, comment_id: str) -> JSON | None:
        try:
            data: JSON = self.read(f"reading comment {comment_id}", lambda: self._v2().get(
                f"api/v2/{kind}-comments/{comment_id}", params={"body-format": "storage"}))
        except NotFoundError:
            return None
        return data

    def create_comment_v2(self, kind: str, body: JSON) -> JSON:
        data: JSON = self.write(f"adding a {kind} comment",
                                lambda: self._v2().post(f"api/v2/{kind}-comments", data=body))
        return data

    def update_inline_v2(self, comment_id: str, body: JSON) -> JSON:
        data: JSON = self.write(f"updating comment {comment_id}",
                                lambda: self._v2().put(f"api/v2/inline-comments/{comment_id}", data=body))
        return data

    def create_comment_v1(self, body: JSON) -> JSON:
        data: JSON = self.write("adding a comment", lambda: self.v1.post("rest/api/content", data=body))
        return data

    def create_inline_dc(self, page_id: str, selection: str, body: str, match_index: int, matches: int) -> JSON:
        """Data Center's inline comment: the web UI's endpoint, through the library (no documented REST)."""
        data: JSON = self.write("adding an inline comment", lambda: self.v1.add_inline_comment(
            page_id, selection, body, match_index=match_index, num_matches=matches))
        return data

    def resolve_inline_dc(self, page_id: str, comment_id: str, resolved: bool) -> None:
        # Setting a state is idempotent, so this write may be retried.
        self.read(f"{'resolving' if resolved else 'reopening'} comment {comment_id}",
                  lambda: self.v1.resolve_inline_comment(page_id, comment_id, resolved=resolved))

    # ---- users ------------------------------------------------------------------------------------

    def users_cloud(self, account_ids: Sequence[str]) -> list[JSON]:
        """Names of Cloud users, 250 account ids per call (the v2 bulk lookup's limit)."""
        found: list[JSON] = []
        for start in range(0, len(account_ids), 250):
            chunk = list(account_ids[start : start + 250])
            data = self.read("looking up users", lambda c=chunk: self._v2().post(  # type: ignore[misc]
                "api/v2/users-bulk", data={"accountIds": c}))
            found.extend(data.get("results") or [])
        return found

    def user_dc(self, *, key: str | None = None, username: str | None = None) -> JSON | None:
        params = {"key": key} if key else {"username": username}
        try:
            data: JSON = self.read("looking up a user", lambda: self.v1.get("rest/api/user", params=params))
        except NotFoundError:
            return None
        return data


def _clients(settings: ConfluenceSettings, session: requests.Session, timeout: int) -> tuple[Any, Any]:
    """The pinned v1 client, and on Cloud the v2 client, sharing one session and one set of credentials."""
    from atlassian.confluence.server import Server

    secret = settings.token.reveal()
    common: dict[str, Any] = {"session": session, "timeout": timeout, "retry_with_header": False,
                              "backoff_and_retry": False}
    if settings.username:
        auth: dict[str, Any] = {"username": settings.username, "password": secret}
    else:
        auth = {"token": secret}  # a Data Center personal access token (Bearer)
    v1 = Server(settings.url, cloud=settings.cloud, **auth, **common)  # type: ignore[no-untyped-call]
    if not settings.cloud:
        return v1, None
    from atlassian.confluence.cloud.cloud import ConfluenceCloud

    with warnings.catch_warnings():  # it warns about v1 method names we never use
        warnings.simplefilter("ignore", DeprecationWarning)
        v2 = ConfluenceCloud(settings.url, cloud=True, **auth, **common)
    return v1, v2
