"""The error tree. Every error is one line that names the place and the fix.

    PostmortemError                 exit 1 unless a subclass says otherwise
    ├── UsageError                  exit 2: bad flags or arguments
    ├── ConfigError                 exit 2: a config key is missing or wrong (names the key and file)
    ├── InputError                  exit 2: a file we were given cannot be used (names the file)
    ├── DocumentError               exit 2: a document lacks what a command needs (names the section)
    ├── ConflictError               exit 1: someone else changed the thing we write; re-read and retry
    ├── LockedError                 exit 1: another run holds the lock
    └── ServiceError                exit 1: a remote service failed; `retriable` says if retrying may help
        ├── AuthError               credentials missing, expired or refused
        ├── NotFoundError           the remote object does not exist or is not shared with us
        └── RateLimitedError        retriable; `retry_after` in seconds when the service said
"""

from __future__ import annotations


class PostmortemError(Exception):
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}: {self.hint}"


class UsageError(PostmortemError):
    exit_code = 2


class ConfigError(PostmortemError):
    exit_code = 2


class InputError(PostmortemError):
    exit_code = 2


class DocumentError(PostmortemError):
    exit_code = 2


class ConflictError(PostmortemError):
    exit_code = 1


class LockedError(PostmortemError):
    exit_code = 1


class ServiceError(PostmortemError):
    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        service: str,
        status: int | None = None,
        retriable: bool = False,
        hint: str | None = None,
    ) -> None:
        self.service = service
        self.status = status
        self.retriable = retriable
        super().__init__(f"{service}: {message}", hint=hint)


class AuthError(ServiceError):
    pass


class NotFoundError(ServiceError):
    pass


class RateLimitedError(ServiceError):
    def __init__(
        self,
        message: str,
        *,
        service: str,
        status: int | None = 429,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, service=service, status=status, retriable=True, hint=hint)
