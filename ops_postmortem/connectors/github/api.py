"""Thin calls over GitHub's REST API with `requests`: our retry policy, our errors, Link-header pagination.

Plain HTTP rather than PyGithub or githubkit: we use eight endpoints, and both libraries bring their own
retry loops (PyGithub retries 403 secondary rate limits on every method, POST included, with its own
sleeps), lazy objects that make hidden calls, and pagination we cannot bound. Here reads and idempotent
writes go through `RetryPolicy.call`; a create is sent once and made safe by the caller's lookups.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import requests

from ops_postmortem.connectors.http import RetryPolicy, connection_error, parse_retry_after, scrub
from ops_postmortem.errors import AuthError, NotFoundError, RateLimitedError, ServiceError

SERVICE: Final = "github"
DEFAULT_API_URL: Final = "https://api.github.com"
API_VERSION: Final = "2022-11-28"
PAGE_SIZE: Final = 100  # the documented maximum of per_page
TIMEOUT: Final = 30.0
# GitHub asks for at least a second between content-creating requests to stay clear of secondary limits.
DEFAULT_WRITE_INTERVAL: Final = 1.0
# Without Retry-After or an exhausted quota, GitHub says to wait at least a minute after a secondary limit.
SECONDARY_LIMIT_WAIT: Final = 60.0

_LINK: Final = re.compile(r'<([^>]*)>\s*((?:;\s*[\w-]+\s*=\s*(?:"[^"]*"|[^;,\s]*)\s*)*)')
_REL: Final = re.compile(r'rel\s*=\s*(?:"([^"]*)"|([^;,\s]+))')
_TOKEN_HINT: Final = (
    "check [github] token: a fine-grained token with Issues read and write on the repository, "
    "or a GitHub App installation token"
)


class ValidationFailed(ServiceError):
    """A 422: GitHub understood the request and refused a field; retrying cannot help."""

    def __init__(self, message: str, *, errors: tuple[str, ...], status: int = 422, hint: str | None = None):
        self.errors = errors
        super().__init__(message, service=SERVICE, status=status, hint=hint)

    def has_code(self, code: str) -> bool:
        return any(f"({code})" in e for e in self.errors)


def link_targets(header: str | None) -> dict[str, str]:
    """RFC 8288 Link header -> {rel: url}: `<https://...?page=2>; rel="next", <...>; rel="last"`."""
    targets: dict[str, str] = {}
    for match in _LINK.finditer(header or ""):
        for rel in _REL.finditer(match.group(2)):
            for name in (rel.group(1) or rel.group(2) or "").split():
                targets.setdefault(name.lower(), match.group(1))
    return targets


@dataclass
class Pages:
    """The pagination state machine: the first URL, then each page's `next` link until there is none.

    A `next` link must stay on the API's own scheme and host (the token goes with it), and a link seen
    before ends the walk instead of looping."""

    origin: tuple[str, str]
    url: str | None
    seen: set[str]

    @classmethod
    def start(cls, url: str) -> Pages:
        parts = urlsplit(url)
        return cls((parts.scheme, parts.netloc), url, set())

    def advance(self, link_header: str | None) -> None:
        assert self.url is not None
        self.seen.add(self.url)
        following = link_targets(link_header).get("next")
        if following is None or following in self.seen:
            self.url = None
            return
        parts = urlsplit(following)
        if (parts.scheme, parts.netloc) != self.origin:
            raise ServiceError(
                f"a pagination link leaves the API host ({parts.scheme}://{parts.netloc})",
                service=SERVICE,
                hint="check [github] api_url",
            )
        self.url = following


class GitHubApi:
    """The REST calls the tracker makes, each returning decoded JSON or raising our errors."""

    def __init__(
        self,
        token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        policy: RetryPolicy | None = None,
        write_interval: float = DEFAULT_WRITE_INTERVAL,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.base = api_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        self.write_interval = write_interval
        self._clock = clock
        self._now = now
        self._last_write: float | None = None
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "ops-postmortem",
            }
        )

    # ---- reads: retried -----------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        return self.policy.call(lambda: self._send("GET", self.base + path, params=params).json())

    def exists(self, path: str) -> bool:
        """True on 204/200, False on 404 (GitHub's yes/no endpoints, such as checking an assignee)."""

        def call() -> bool:
            try:
                self._send("GET", self.base + path)
            except NotFoundError:
                return False
            return True

        return self.policy.call(call)

    def paginate(
        self, path: str, params: Mapping[str, str | int], *, key: str | None = None, retry: bool = True
    ) -> Iterator[Any]:
        """Every item of every page; `key` names the list in an object page (search answers). Without
        `retry`, a failure is raised at once, for callers that have another way to the same answer."""
        pages = Pages.start(self.base + path)
        query: Mapping[str, str | int] | None = {**params, "per_page": PAGE_SIZE}
        while pages.url is not None:
            response = self._fetch(pages.url, query, retry)
            data = response.json()
            items = data.get(key, []) if key is not None and isinstance(data, dict) else data
            if not isinstance(items, list):
                raise ServiceError(
                    f"GET {path}: expected a list, got {type(items).__name__}", service=SERVICE
                )
            yield from items
            pages.advance(response.headers.get("Link"))
            query = None  # the next link carries every parameter

    def _fetch(self, url: str, params: Mapping[str, str | int] | None, retry: bool) -> requests.Response:
        if not retry:
            return self._send("GET", url, params=params)
        return self.policy.call(lambda: self._send("GET", url, params=params))

    # ---- writes -------------------------------------------------------------------------------------------

    def create(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST once. Never retried here: a lost response may hide a commit, so the caller looks up first."""
        return self._write("POST", path, body).json()

    def create_unique(self, path: str, body: Mapping[str, Any]) -> Any | None:
        """POST something GitHub keeps unique by name (a label, a milestone): retried, since a repeat is
        refused as `already_exists`; None when it already existed."""

        def call() -> Any | None:
            try:
                return self._write("POST", path, body).json()
            except ValidationFailed as exc:
                if exc.has_code("already_exists"):
                    return None
                raise

        return self.policy.call(call)

    def update(self, path: str, body: Mapping[str, Any]) -> Any:
        """PATCH: setting fields to values is idempotent, so it is retried."""
        return self.policy.call(lambda: self._write("PATCH", path, body).json())

    def _write(self, method: str, path: str, body: Mapping[str, Any]) -> requests.Response:
        if self._last_write is not None:
            pause = self._last_write + self.write_interval - self._clock()
            if pause > 0:
                self.policy.sleep(pause)
        try:
            return self._send(method, self.base + path, json=body)
        finally:
            self._last_write = self._clock()

    # ---- transport ----------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        try:
            response = self.session.request(method, url, params=params, json=json, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise connection_error(SERVICE, exc) from exc
        if response.status_code >= 400:
            raise self.error(method, urlsplit(url).path, response)
        return response

    def error(self, method: str, path: str, response: requests.Response) -> ServiceError:
        """Our error for a GitHub failure, telling rate limits apart from permission refusals (both 403)."""
        status = response.status_code
        message, errors = _message(response)
        text = scrub(f"{method} {path}: {message}" + (f" [{'; '.join(errors)}]" if errors else ""))[:500]
        headers = response.headers
        if status == 429 or (status == 403 and _rate_limited(message, headers)):
            return self._rate_limit(text, status, headers)
        if status in (401, 403):
            return AuthError(text, service=SERVICE, status=status, hint=_TOKEN_HINT)
        if status == 404:
            return NotFoundError(
                text,
                service=SERVICE,
                status=status,
                hint="check [github] repo; GitHub answers 404 for a private repository the token cannot see",
            )
        if status == 410:
            return ServiceError(
                text,
                service=SERVICE,
                status=status,
                hint="the issue was deleted, or issues are turned off for the repository",
            )
        if status == 422:
            return ValidationFailed(text, errors=errors)
        return ServiceError(text, service=SERVICE, status=status, retriable=status >= 500)

    def _rate_limit(self, text: str, status: int, headers: Mapping[str, str]) -> ServiceError:
        wait = parse_retry_after(headers.get("Retry-After"))
        if wait is None and headers.get("x-ratelimit-remaining") == "0":
            reset = headers.get("x-ratelimit-reset", "")
            if reset.isdigit():
                wait = max(0.0, int(reset) - self._now().timestamp())
        if wait is None:
            wait = SECONDARY_LIMIT_WAIT
        if wait > self.policy.max_wait:
            until = datetime.fromtimestamp(self._now().timestamp() + wait, UTC).strftime("%H:%M:%SZ")
            return ServiceError(
                text,
                service=SERVICE,
                status=status,
                hint=f"GitHub's rate limit for this token resets at {until}; run again after that",
            )
        return RateLimitedError(
            text,
            service=SERVICE,
            status=status,
            retry_after=wait,
            hint="GitHub is rate limiting this token; retried after the wait it gave",
        )


def _rate_limited(message: str, headers: Mapping[str, str]) -> bool:
    return (
        "rate limit" in message.lower()
        or headers.get("x-ratelimit-remaining") == "0"
        or "Retry-After" in headers
    )


def _message(response: requests.Response) -> tuple[str, tuple[str, ...]]:
    """GitHub's `message`, and its `errors[]` (`resource`, `field`, `code`, `message`) one line each."""
    try:
        data = response.json()
    except ValueError:
        return (" ".join(response.text.split())[:200] or f"HTTP {response.status_code}"), ()
    if not isinstance(data, dict):
        return f"HTTP {response.status_code}", ()
    message = " ".join(str(data.get("message") or f"HTTP {response.status_code}").split())
    errors = []
    for error in data.get("errors") or ():
        if isinstance(error, dict):
            where = ".".join(str(error[k]) for k in ("resource", "field") if error.get(k))
            detail = error.get("message") or ""
            value = f" {error['value']!r}" if error.get("value") is not None else ""
            errors.append(
                f"{where}{value}{': ' + str(detail) if detail else ''} ({error.get('code', 'invalid')})"
            )
        else:
            errors.append(str(error))
    return message, tuple(errors)
