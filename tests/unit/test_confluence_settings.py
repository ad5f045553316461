"""The [confluence] section: key names as issue 5 gives them, defaults from the URL, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops_postmortem.config import Config, load_config
from ops_postmortem.connectors.confluence.settings import ConfluenceSettings
from ops_postmortem.errors import ConfigError
from ops_postmortem.wiring import document_store


def settings(text: str, tmp_path: Path) -> ConfluenceSettings:
    path = tmp_path / "postmortem.toml"
    path.write_text(text)
    return ConfluenceSettings.from_section(load_config(str(path)).section("confluence"))


CLOUD = """[confluence]
url = "https://acme.atlassian.net"
username = "bot@acme.test"
token = { env = "CONFLUENCE_API_TOKEN" }
space = "PM"
parent_id = 65537
template_page_id = "65540"
read_groups = ["sre"]
"""


def test_cloud_settings_and_defaults(tmp_path: Path) -> None:
    s = settings(CLOUD, tmp_path)
    assert (s.url, s.deployment, s.username, s.space) == ("https://acme.atlassian.net/wiki", "cloud",
                                                          "bot@acme.test", "PM")
    assert (s.parent_id, s.template_page_id, s.read_groups, s.edit_groups) == ("65537", "65540", ("sre",), ())
    assert s.token.env == "CONFLUENCE_API_TOKEN"


def test_data_center_by_url_and_a_pat(tmp_path: Path) -> None:
    s = settings('[confluence]\nurl = "https://wiki.acme.test/confluence/"\ntoken = { env = "PAT" }\n'
                 'space = "OPS"\n', tmp_path)
    assert (s.url, s.deployment, s.username, s.parent_id) == ("https://wiki.acme.test/confluence", "datacenter",
                                                              None, None)


@pytest.mark.parametrize(("text", "message"), [
    ('[confluence]\ntoken = { env = "T" }\nspace = "PM"\n', r"\[confluence\] url is required"),
    ('[confluence]\nurl = "acme"\ntoken = { env = "T" }\nspace = "PM"\n', "is not a site address"),
    ('[confluence]\nurl = "https://acme.atlassian.net"\ntoken = { env = "T" }\nspace = "PM"\n',
     "username is required for Confluence Cloud"),
    ('[confluence]\nurl = "https://w.acme.test"\ntoken = "secret"\nspace = "PM"\n', "secrets never go in the file"),
    ('[confluence]\nurl = "https://w.acme.test"\ntoken = { env = "T" }\nspace = "PM"\nparent_id = "Home"\n',
     "parent_id must be a page id"),
    ('[confluence]\nurl = "https://w.acme.test"\ntoken = { env = "T" }\nspace = "PM"\ndeployment = "server"\n',
     "is not one of cloud, datacenter"),
    ('[confluence]\nurl = "https://w.acme.test"\ntoken = { env = "T" }\nspace = "PM"\nspaces = "X"\n',
     "unknown key 'spaces' in \\[confluence\\]"),
])
def test_mistakes_are_one_line_errors(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(text, tmp_path)


def test_wiring_builds_the_store_with_jira_macros_for_jira(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops_postmortem.connectors.confluence.store import ConfluenceStore

    monkeypatch.setenv("CONFLUENCE_API_TOKEN", "t")
    data = {"store": {"kind": "confluence"}, "tracker": {"kind": "jira"},
            "confluence": {"url": "https://wiki.acme.test", "token": {"env": "CONFLUENCE_API_TOKEN"}, "space": "PM"}}
    store = document_store(Config(tmp_path / "postmortem.toml", data))
    assert isinstance(store, ConfluenceStore) and store.jira_macro and store.kind == "confluence"
    data["tracker"] = {"kind": "local"}
    store = document_store(Config(tmp_path / "postmortem.toml", data))
    assert isinstance(store, ConfluenceStore) and not store.jira_macro


def test_a_missing_token_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONFLUENCE_API_TOKEN", raising=False)
    data = {"confluence": {"url": "https://wiki.acme.test", "token": {"env": "CONFLUENCE_API_TOKEN"},
                           "space": "PM"}}
    with pytest.raises(ConfigError, match="environment variable CONFLUENCE_API_TOKEN is not set"):
        document_store(Config(tmp_path / "postmortem.toml", data), "confluence")
