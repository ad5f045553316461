"""Google credentials: a service-account key (optionally delegated to a user), an authorized-user file, or
Application Default Credentials; and the OAuth installed-app flow behind `postmortem auth google`.

Scopes are the narrowest that work: `drive.file` reaches every doc this tool created (create, read, write,
comments, sharing, properties) and nothing else in anyone's Drive; copying a team template doc, which the
tool did not create, adds `drive.readonly`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ops_postmortem.errors import AuthError, ConfigError, UsageError

SCOPE_FILE = "https://www.googleapis.com/auth/drive.file"
SCOPE_READONLY = "https://www.googleapis.com/auth/drive.readonly"
SERVICE = "google"


def scopes(*, template: bool) -> list[str]:
    """Every command needs `drive.file`; `open` with a team template doc also reads that doc."""
    return [SCOPE_FILE, SCOPE_READONLY] if template else [SCOPE_FILE]


def load_credentials(path: Path | None, scopes: Sequence[str], *, subject: str | None = None) -> Any:
    """Credentials from a key or authorized-user file, else Application Default Credentials."""
    if path is None:
        return _default_credentials(scopes, subject)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the Google credentials file ({exc.strerror})",
                          hint="check [google] credentials_file") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: not a JSON credentials file ({exc})",
                          hint="download a service-account key, or run `postmortem auth google`") from exc
    kind = info.get("type") if isinstance(info, dict) else None
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=list(scopes))
            return creds.with_subject(subject) if subject else creds
        if kind == "authorized_user":
            if subject:
                raise ConfigError(f"{path}: [google] subject needs a service-account key with domain-wide "
                                  "delegation", hint="drop subject, or use a service-account key")
            return _authorized_user(info, scopes)
    except ValueError as exc:
        raise ConfigError(f"{path}: incomplete {kind} credentials ({exc})",
                          hint="download the file again") from exc
    raise ConfigError(
        f"{path}: credentials of type {kind!r} are not supported",
        hint='use a service-account key ("service_account") or an authorized-user file ("authorized_user")',
    )


def _authorized_user(info: dict[str, Any], scopes: Sequence[str]) -> Any:
    """User credentials from an authorized-user file. Unlike google-auth's loader, the file's token_uri is
    honoured, as it is for service-account keys: the file is trusted configuration either way."""
    from google.oauth2.credentials import Credentials

    missing = {"refresh_token", "client_id", "client_secret"} - set(info)
    if missing:
        raise ValueError(f"missing {', '.join(sorted(missing))}")
    return Credentials(  # type: ignore[no-untyped-call]
        None,
        refresh_token=info["refresh_token"],
        token_uri=info.get("token_uri") or "https://oauth2.googleapis.com/token",
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        scopes=list(scopes),
        quota_project_id=info.get("quota_project_id"),
    )


def _default_credentials(scopes: Sequence[str], subject: str | None) -> Any:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        creds, _ = google.auth.default(scopes=list(scopes))
    except DefaultCredentialsError as exc:
        raise ConfigError(
            "no Google credentials: [google] credentials_file is not set and Application Default Credentials "
            "were not found",
            hint="set credentials_file to a service-account key, run `postmortem auth google`, "
            "or `gcloud auth application-default login`",
        ) from exc
    if subject:
        if not hasattr(creds, "with_subject"):
            raise ConfigError("[google] subject needs service-account credentials with domain-wide delegation",
                              hint="set credentials_file to the service account's key")
        creds = creds.with_subject(subject)
    return creds


def account_email(creds: Any) -> str | None:
    """The account the credentials act as, when they say so without a call (service accounts do)."""
    value = getattr(creds, "service_account_email", None) or getattr(creds, "account", None)
    return str(value) if value else None


# ---- the installed-app flow --------------------------------------------------------------------------

# Google retired the out-of-band copy-the-code page; a loopback redirect that nothing listens on still shows
# the code in the browser's address bar, which the person pastes back.
PASTE_REDIRECT = "http://127.0.0.1:1/"


def authorize_user(
    client_secrets: Path,
    output: Path,
    scopes: Sequence[str],
    *,
    open_browser: bool = True,
    read_line: Callable[[str], str] = input,
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
) -> Path:
    """Run the OAuth installed-app flow and write an authorized-user file (mode 0600) to `output`."""
    from google_auth_oauthlib.flow import InstalledAppFlow

    try:
        flow = InstalledAppFlow.from_client_secrets_file(str(client_secrets), scopes=list(scopes))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{client_secrets}: not an OAuth client secrets file ({exc})",
                          hint="download the JSON of a 'Desktop app' OAuth client from the Cloud console") from exc
    try:
        if open_browser:
            creds = flow.run_local_server(port=0, open_browser=True, authorization_prompt_message=(
                "Opening your browser to authorize ops-postmortem; if it does not open, visit {url}"))
        else:
            flow.redirect_uri = PASTE_REDIRECT
            url, state = flow.authorization_url(access_type="offline", prompt="consent")
            say(f"Open this URL in a browser, approve, then paste the address it redirects to "
                f"(it will not load; that is expected):\n\n{url}\n")
            flow.fetch_token(code=_code_from(read_line("Redirected address or code: "), state))
            creds = flow.credentials
    except UsageError:
        raise
    except Exception as exc:  # oauthlib and requests raise many kinds; all mean the grant failed
        from ops_postmortem.connectors.http import message_of

        raise AuthError(f"authorization failed ({message_of(exc)})", service=SERVICE,
                        hint="run `postmortem auth google` again") from exc
    data = {
        "type": "authorized_user",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "refresh_token": creds.refresh_token,
        "token_uri": creds.token_uri,
    }
    if not creds.refresh_token:
        raise AuthError("Google returned no refresh token", service=SERVICE,
                        hint="remove the app's access at myaccount.google.com/permissions and run again")
    output.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    return output


def _code_from(pasted: str, state: str) -> str:
    """The authorization code from a pasted redirect address (state checked) or a bare code."""
    pasted = pasted.strip()
    if not pasted.startswith(("http://", "https://")):
        if not pasted:
            raise UsageError("no authorization code was pasted", hint="run `postmortem auth google` again")
        return pasted
    query = parse_qs(urlsplit(pasted).query)
    if "error" in query:
        raise UsageError(f"authorization was refused ({query['error'][0]})",
                         hint="approve the requested access, or ask your Workspace admin to allow the app")
    if query.get("state", [state])[0] != state:
        raise UsageError("the pasted address belongs to another authorization attempt",
                         hint="use the URL printed by this run")
    if "code" not in query:
        raise UsageError("the pasted address holds no code", hint="paste the whole address from the browser")
    return query["code"][0]
