"""Thin calls over `slack_sdk.WebClient`: one client per run, our retry policy, our errors.

slack_sdk's own retry handlers are switched off: its RateLimitErrorRetryHandler sleeps `Retry-After + random()`
with an uncapped, unmockable `time.sleep`, and its server-error handler knows only 500 and 503. Every read goes
through `RetryPolicy.call` instead (429 honouring Retry-After, 5xx and connection errors, bounded), and
chat.postMessage is retried only on 429, which Slack answers before doing anything.
"""

from __future__ import annotations

import http.client
import socket
import urllib.error
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ops_postmortem.connectors.http import RetryPolicy, connection_error, parse_retry_after, scrub
from ops_postmortem.errors import AuthError, NotFoundError, RateLimitedError, ServiceError

if TYPE_CHECKING:
    from slack_sdk import WebClient
    from slack_sdk.web import SlackResponse

SERVICE = "slack"
DEFAULT_API_URL = "https://slack.com/api/"

# Page sizes: the documented maxima, so a busy channel costs as few rate-limited calls as possible.
# Apps under Slack's 2025 limits for distributed non-Marketplace apps get 15 per page whatever we ask.
HISTORY_PAGE = 999
REPLIES_PAGE = 999
LIST_PAGE = 999

_AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
                          "no_permission", "ekm_access_denied", "not_allowed_token_type"})
_NOT_FOUND = frozenset({"channel_not_found", "user_not_found", "users_not_found", "thread_not_found",
                        "message_not_found"})
_CONNECTION_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError)
_TOKEN_HINT = "check [slack] token: the bot token (xoxb-...) in the environment variable it names"


def slack_error(method: str, status: int, data: Mapping[str, Any], headers: Mapping[str, Any]) -> ServiceError:
    """Our error for a failed Web API call: `{"ok": false, "error": ...}`, a 429 or a 5xx."""
    code = str(data.get("error") or f"HTTP {status}")
    text = f"{method}: {scrub(code)}"
    details = data.get("errors")
    if isinstance(details, list) and details:  # invalid_blocks says which block and why
        text += " (" + "; ".join(scrub(str(d)) for d in details[:3]) + ")"
    if status == 429 or code == "ratelimited":
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
        return RateLimitedError(text, service=SERVICE, status=status, retry_after=retry_after,
                                hint="Slack is rate limiting this app; retried after the Retry-After it gave")
    if status >= 500 or code in ("internal_error", "fatal_error", "service_unavailable", "request_timeout"):
        return ServiceError(text, service=SERVICE, status=status, retriable=True)
    if code == "missing_scope":
        needed = scrub(str(data.get("needed") or "a scope"))
        return AuthError(f"{text} (needs {needed})", service=SERVICE, status=status,
                         hint=f"add the {needed} scope to the Slack app and reinstall it in the workspace")
    if code in _AUTH_ERRORS:
        return AuthError(text, service=SERVICE, status=status, hint=_TOKEN_HINT)
    if code == "not_in_channel":
        return AuthError(text, service=SERVICE, status=status,
                         hint="invite the app to the channel (/invite @your-app) or give it chat:write.public")
    if code in _NOT_FOUND:
        return NotFoundError(text, service=SERVICE, status=status,
                             hint="check the name or id, and that the app is a member of private channels")
    return ServiceError(text, service=SERVICE, status=status)


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            if isinstance(value, list):
                return str(value[0]) if value else None
            return str(value)
    return None


class SlackApi:
    """The Web API methods ops-postmortem uses, each a retried call returning the response JSON."""

    def __init__(
        self,
        token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        policy: RetryPolicy | None = None,
        timeout: int = 30,
    ) -> None:
        from slack_sdk import WebClient

        base = api_url if api_url.endswith("/") else api_url + "/"
        # retry_handlers=[]: the SDK's default connection retry would repeat a chat.postMessage blindly.
        self.client: WebClient = WebClient(token=token, base_url=base, timeout=timeout, retry_handlers=[])
        self.policy = policy or RetryPolicy()

    # ---- plumbing --------------------------------------------------------------------------------

    def _once(self, method: str, call: Callable[[], SlackResponse]) -> dict[str, Any]:
        from slack_sdk.errors import SlackApiError, SlackRequestError

        try:
            response = call()
        except SlackApiError as exc:
            r = exc.response
            failed = r.data if isinstance(r.data, dict) else {"error": scrub(str(r.data))[:200]}
            raise slack_error(method, r.status_code, failed, r.headers) from None
        except SlackRequestError as exc:
            raise ServiceError(f"{method}: {scrub(str(exc))}", service=SERVICE) from None
        except _CONNECTION_ERRORS as exc:
            raise connection_error(SERVICE, exc) from None
        data = response.data
        if not isinstance(data, dict):
            raise ServiceError(f"{method}: the response is not JSON", service=SERVICE, retriable=True)
        return data

    def call(self, method: str, call: Callable[[], SlackResponse]) -> dict[str, Any]:
        """A read: retried on 429 (after Retry-After), 5xx and connection errors."""
        return self.policy.call(lambda: self._once(method, call))

    def pages(self, method: str, fetch: Callable[[str | None], SlackResponse]) -> Iterator[dict[str, Any]]:
        """Every page of a cursor-paginated method; `fetch(cursor)` asks for one page."""
        yield from cursor_pages(lambda cursor: self.call(method, lambda: fetch(cursor)), method)

    # ---- reads -------------------------------------------------------------------------------------

    def auth_test(self) -> dict[str, Any]:
        return self.call("auth.test", lambda: self.client.auth_test())

    def conversations(self, *, types: str = "public_channel,private_channel") -> Iterator[dict[str, Any]]:
        """Pages of conversations.list, archived channels included (incident channels get archived)."""
        return self.pages(
            "conversations.list",
            lambda cursor: self.client.conversations_list(
                types=types, exclude_archived=False, limit=LIST_PAGE, cursor=cursor
            ),
        )

    def history(self, channel: str, *, oldest: str | None, latest: str | None) -> Iterator[dict[str, Any]]:
        """Pages of conversations.history between two ts values, both ends included."""
        return self.pages(
            "conversations.history",
            lambda cursor: self.client.conversations_history(
                channel=channel, oldest=oldest, latest=latest, inclusive=True, limit=HISTORY_PAGE, cursor=cursor
            ),
        )

    def replies(self, channel: str, ts: str) -> Iterator[dict[str, Any]]:
        """Pages of one thread: the parent first, then its replies."""
        return self.pages(
            "conversations.replies",
            lambda cursor: self.client.conversations_replies(
                channel=channel, ts=ts, limit=REPLIES_PAGE, cursor=cursor
            ),
        )

    def user_info(self, user: str) -> dict[str, Any] | None:
        """users.info; None when Slack knows no such user (Slack Connect guests, deleted orgs)."""
        try:
            data = self.call("users.info", lambda: self.client.users_info(user=user))
        except NotFoundError:
            return None
        found = data.get("user")
        return found if isinstance(found, dict) else None

    def lookup_by_email(self, email: str) -> dict[str, Any] | None:
        try:
            data = self.call("users.lookupByEmail", lambda: self.client.users_lookupByEmail(email=email))
        except NotFoundError:
            return None
        found = data.get("user")
        return found if isinstance(found, dict) else None

    # ---- writes -------------------------------------------------------------------------------------

    def open_dm(self, user: str) -> str:
        """The id of the direct-message channel with a user (opening it is idempotent, so it is retried)."""
        data = self.call("conversations.open", lambda: self.client.conversations_open(users=user))
        channel = data.get("channel")
        if not isinstance(channel, dict) or not channel.get("id"):
            raise ServiceError("conversations.open: no channel in the response", service=SERVICE)
        return str(channel["id"])

    def post_message(self, channel: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """chat.postMessage, retried only after a 429: any other failure may have posted it already."""

        def once() -> dict[str, Any]:
            try:
                return self._once("chat.postMessage", lambda: self.client.chat_postMessage(
                    channel=channel, text=text, blocks=[dict(b) for b in blocks],
                    unfurl_links=False, unfurl_media=False,
                ))
            except RateLimitedError:
                raise
            except ServiceError as exc:
                if exc.retriable:
                    raise ServiceError(
                        exc.message.removeprefix(f"{SERVICE}: "), service=SERVICE, status=exc.status,
                        hint="the message may have been posted; the next run checks the channel before posting",
                    ) from None
                raise

        return self.policy.call(once)


def cursor_pages(
    fetch: Callable[[str | None], dict[str, Any]], method: str, *, max_pages: int = 100_000
) -> Iterator[dict[str, Any]]:
    """Slack cursor pagination: follow `response_metadata.next_cursor` until it is empty or absent.

    A cursor that repeats would loop forever against a misbehaving server: that is an error, not the end.
    """
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(max_pages):
        page = fetch(cursor)
        yield page
        meta = page.get("response_metadata")
        following = meta.get("next_cursor") if isinstance(meta, dict) else None
        if not following or not isinstance(following, str):
            return
        if following in seen:
            raise ServiceError(f"{method}: the server repeated the cursor {following[:40]!r}", service=SERVICE)
        seen.add(following)
        cursor = following
    raise ServiceError(f"{method}: more than {max_pages} pages; stopping", service=SERVICE)
