"""The one retry policy, status-to-error mapping and secret scrubbing shared by every connector.

Connectors translate their client library's errors into our ServiceError tree with `error_for_status`;
`RetryPolicy.call` then retries only what is marked retriable, honouring Retry-After, within a bound.
A create (a non-idempotent POST) is never wrapped: it is made safe by looking up first, not by retrying.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from ops_postmortem.errors import (
    AuthError,
    NotFoundError,
    PostmortemError,
    RateLimitedError,
    ServiceError,
)

T = TypeVar("T")

RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

# Credentials that can turn up in URLs and error bodies; scrubbed from every message we print.
_SECRET_PATTERNS = [
    re.compile(r"(?i)\b(authorization|x-api-key|api[_-]?key|token|access_token|password|secret|genie ?key)"
               r"(\s*[:=]\s*|\s+)(bearer\s+|basic\s+|token\s+|token=)?[^\s&\"',;]+"),
    re.compile(r"(?i)(https?://[^/\s:@]+:)[^@/\s]+@"),
    re.compile(r"\b(xox[abposr]-|xapp-|gh[pousr]_|github_pat_|ya29\.)[A-Za-z0-9_\-.]+"),
]


def scrub(text: str) -> str:
    """`text` with anything credential-shaped replaced, for errors and logs."""
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED]", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}[REDACTED]@", text)
    return _SECRET_PATTERNS[2].sub(lambda m: f"{m.group(1)}[REDACTED]", text)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_for_status(
    service: str,
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    not_found_hint: str | None = None,
    auth_hint: str | None = None,
    rate_limited: bool = False,
) -> ServiceError:
    """Map an HTTP failure to our error tree; `rate_limited` for services that say so with another status
    (Google's 403 rateLimitExceeded)."""
    text = scrub(" ".join(message.split()))[:500] or f"HTTP {status}"
    retry_after = parse_retry_after((headers or {}).get("Retry-After") or (headers or {}).get("retry-after"))
    if status == 429 or rate_limited:
        return RateLimitedError(text, service=service, status=status, retry_after=retry_after,
                                hint="the service is rate limiting us; retried with backoff")
    if status in (401, 403):
        return AuthError(text, service=service, status=status,
                         hint=auth_hint or "check the credentials and what they are allowed to do")
    if status == 404:
        return NotFoundError(text, service=service, status=status, hint=not_found_hint)
    return ServiceError(text, service=service, status=status, retriable=status in RETRIABLE_STATUSES)


def connection_error(service: str, exc: BaseException) -> ServiceError:
    return ServiceError(
        f"cannot reach the service ({type(exc).__name__}: {scrub(str(exc))[:200]})",
        service=service,
        retriable=True,
        hint="check the URL in the config and the network",
    )


def _retriable(exc: BaseException) -> bool:
    return isinstance(exc, ServiceError) and exc.retriable


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter; a server's Retry-After wins, capped at `max_wait`."""

    attempts: int = 5
    base: float = 0.5
    max_wait: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return float(min(exc.retry_after, self.max_wait))
        backoff: float = self.base * 2.0 ** (state.attempt_number - 1)
        return min(backoff * (0.5 + random.random() / 2), self.max_wait)

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn`, retrying retriable ServiceErrors; the last error propagates unchanged."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self.wait,
            retry=retry_if_exception(_retriable),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(fn)


def message_of(exc: BaseException) -> str:
    """One line for an exception from a client library, with secrets scrubbed."""
    if isinstance(exc, PostmortemError):
        return str(exc)
    return scrub(" ".join(f"{type(exc).__name__}: {exc}".split()))[:500]
