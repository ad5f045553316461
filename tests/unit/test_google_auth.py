"""Google credentials and settings: the installed-app flow through the CLI (no browser), service-account keys,
Application Default Credentials, and the [google] section's checks."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops_postmortem.cli import main
from ops_postmortem.config import Config, Section
from ops_postmortem.connectors.google.api import GoogleApi
from ops_postmortem.connectors.google.auth import SCOPE_FILE, SCOPE_READONLY, load_credentials, scopes
from ops_postmortem.connectors.google.settings import GoogleSettings, google_store
from ops_postmortem.errors import ConfigError
from tests.contract.google_harness import BOT
from tests.fakes.google import FakeGoogle, fake_google, tls_files
from tests.samples import example_timeline


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    monkeypatch.setenv("HTTPLIB2_CA_CERTS", str(tls_files()[0]))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_files()[0]))  # the OAuth code exchange uses requests
    monkeypatch.delenv("POSTMORTEM_CONFIG", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.chdir(tmp_path)
    with fake_google() as running:
        yield running


class Browser:
    """Stands in for the person at the terminal: reads the printed consent URL, approves it, pastes the address."""

    def __init__(self, fake: FakeGoogle, capsys: pytest.CaptureFixture[str], user: str) -> None:
        self.fake, self.capsys, self.user = fake, capsys, user
        self.printed = ""

    def readline(self) -> str:
        out, err = self.capsys.readouterr()
        self.printed += out + err
        url = re.search(r"https://\S+/o/oauth2/auth\?\S+", self.printed)
        assert url, self.printed
        return self.fake.approve(url.group(), self.user) + "\n"


def test_auth_google_without_a_browser_writes_an_authorized_user_file(
    fake: FakeGoogle, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = fake.oauth_client(tmp_path)
    output = tmp_path / "creds" / "google.json"
    monkeypatch.setattr("sys.stdin", Browser(fake, capsys, "priya@acme.test"))
    code = main(["auth", "google", "--client-secrets", str(secrets), "--output", str(output), "--no-browser"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"wrote {output}" in out
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    data = json.loads(output.read_text())
    assert data["type"] == "authorized_user" and data["refresh_token"].startswith("1//")
    assert data["token_uri"] == f"{fake.base}/token"
    exchange = next(r for r in fake.requests if r.path == "/token" and r.form().get("grant_type") ==
                    "authorization_code")
    assert exchange.form()["code_verifier"]  # PKCE, checked by the fake against the challenge
    assert fake.codes == {}
    # The file works: a refresh-token grant, then Drive calls as that user with drive.file.
    api = GoogleApi(load_credentials(output, scopes(template=False)), docs_endpoint=f"{fake.base}/",
                    drive_endpoint=f"{fake.base}/drive/v3/")
    assert list(api.list_files("trashed = false")) == []
    assert api.who() == "priya@acme.test"
    assert set(next(iter(fake.tokens.values())).scopes) == {SCOPE_FILE}


def test_a_refused_consent_and_a_foreign_address_are_clear_errors(
    fake: FakeGoogle, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = fake.oauth_client(tmp_path)
    monkeypatch.setattr("sys.stdin", type("Refuser", (), {"readline": lambda self: "http://127.0.0.1:1/?error=access_denied\n"})())
    assert main(["auth", "google", "--client-secrets", str(secrets), "--output", "x.json", "--no-browser"]) == 2
    assert "authorization was refused (access_denied)" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", type("Other", (), {"readline": lambda self: "http://127.0.0.1:1/?state=zz&code=c\n"})())
    assert main(["auth", "google", "--client-secrets", str(secrets), "--output", "x.json", "--no-browser"]) == 2
    assert "another authorization attempt" in capsys.readouterr().err
    assert main(["auth", "google", "--client-secrets", str(secrets), "--no-browser"]) == 2
    assert "no place to write the Google credentials" in capsys.readouterr().err
    assert not Path("x.json").exists()


def _config(tmp_path: Path, google: dict[str, object]) -> Config:
    return Config(tmp_path / "postmortem.toml", {"store": {"kind": "google"}, "google": google})


def test_application_default_credentials_when_no_file_is_configured(
    fake: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = fake.service_account(tmp_path)
    folder = fake.folder("Postmortems", shared={BOT: "writer"})
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    store = google_store(_config(tmp_path, {"folder_id": folder, "docs_api_endpoint": f"{fake.base}/",
                                            "drive_api_endpoint": f"{fake.base}/drive/v3/"}))
    ref = store.create(example_timeline())
    assert fake.files[ref.id].owner == BOT
    assert store.api.account == BOT


def test_scopes_and_credentials_files(tmp_path: Path) -> None:
    assert scopes(template=False) == [SCOPE_FILE]
    assert scopes(template=True) == [SCOPE_FILE, SCOPE_READONLY]
    with pytest.raises(ConfigError, match="cannot read"):
        load_credentials(tmp_path / "missing.json", [SCOPE_FILE])
    (tmp_path / "bad.json").write_text('{"type": "external_account"}')
    with pytest.raises(ConfigError, match="'external_account' are not supported"):
        load_credentials(tmp_path / "bad.json", [SCOPE_FILE])
    (tmp_path / "user.json").write_text(json.dumps({"type": "authorized_user", "client_id": "c",
                                                    "client_secret": "s", "refresh_token": "r"}))
    with pytest.raises(ConfigError, match="subject needs a service-account key"):
        load_credentials(tmp_path / "user.json", [SCOPE_FILE], subject="someone@acme.test")


def test_settings_are_checked_where_they_are_written(tmp_path: Path) -> None:
    def section(**data: object) -> Section:
        return Section("google", data, "postmortem.toml")

    settings = GoogleSettings.from_section(section(
        credentials_file="keys/sa.json", template_doc_id="https://docs.google.com/document/d/1TmPl/edit#h",
        drive_api_endpoint="https://proxy.acme.test/drive/v3", share_with=["responders"]), tmp_path)
    assert settings.credentials_file == tmp_path / "keys" / "sa.json"
    assert settings.template_doc_id == "1TmPl" and settings.drive_api_endpoint.endswith("/drive/v3/")
    assert settings.docs_api_endpoint == "https://docs.googleapis.com/"
    with pytest.raises(ConfigError, match="must end with drive/v3/"):
        GoogleSettings.from_section(section(drive_api_endpoint="https://www.googleapis.com/"), tmp_path)
    with pytest.raises(ConfigError, match="not a user's e-mail"):
        GoogleSettings.from_section(section(subject="postmortems"), tmp_path)
    with pytest.raises(ConfigError, match="never shared with anyone who has the link"):
        google_store(_config(tmp_path, {"share_with": ["anyone"]}))
