"""The [jira] section: Cloud or Data Center, defaults, per-severity rules, and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ops_postmortem.config import Config, load_config
from ops_postmortem.connectors.jira.settings import read_settings, severity_key
from ops_postmortem.errors import ConfigError

STATE = Path("/var/lib/postmortem/.jira-created.json")


def settings(tmp_path: Path, **jira: Any) -> Any:
    values = {"url": "https://acme.atlassian.net", "username": "bot@acme.test",
              "token": {"env": "JIRA_API_TOKEN"}, "project": "OPS", **jira}
    data = {"jira": {k: v for k, v in values.items() if v is not None}}  # None: the key is left out
    return read_settings(Config(tmp_path / "postmortem.toml", data), STATE)[0]


def test_cloud_defaults(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert (s.deployment, s.api_version, s.adf) == ("cloud", 3, True)
    assert (s.default.project, s.default.issue_type, s.priority_map, s.state_file) == ("OPS", "Task", {}, STATE)
    assert s.site == "https://acme.atlassian.net"


def test_data_center_defaults_to_v2_and_v3_means_cloud(tmp_path: Path) -> None:
    dc = settings(tmp_path, url="https://jira.acme.test/jira", username=None)
    assert (dc.deployment, dc.api_version, dc.adf, dc.username) == ("datacenter", 2, False, None)
    assert settings(tmp_path, url="http://127.0.0.1:8080", api_version=3).deployment == "cloud"
    cloud_v2 = settings(tmp_path, api_version=2)
    assert (cloud_v2.deployment, cloud_v2.adf) == ("cloud", False)
    assert settings(tmp_path, url="https://api.atlassian.com/ex/jira/3f1c0a52").deployment == "cloud"


def test_priority_map_severity_rules_and_state_file(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        priority_map={"p1": "High", "P2": " Medium "},
        extra_fields={"components": [{"name": "checkout"}]},
        by_severity={"SEV1": {"project": "INC", "issue_type": "Bug", "extra_fields": {"customfield_10040": "yes"}},
                     "sev 2": {"issue_type": "Story"}},
        state_file="state/jira.json",
    )
    assert s.priority("P1") == "High" and s.priority("p2") == "Medium" and s.priority("P3") is None
    assert s.doc_priority("high") == "P1" and s.doc_priority("Lowest") == "Lowest"
    sev1 = s.rule("SEV-1")
    assert (sev1.project, sev1.issue_type) == ("INC", "Bug")
    assert sev1.extra_fields == {"components": [{"name": "checkout"}], "customfield_10040": "yes"}
    assert (s.rule("Sev2").project, s.rule("Sev2").issue_type) == ("OPS", "Story")
    assert s.rule(None) is s.default and s.rule("SEV3") is s.default
    assert s.state_file == tmp_path / "state" / "jira.json"
    assert severity_key("sev-1") == severity_key("SEV 1") == "SEV1"


@pytest.mark.parametrize(("jira", "message"), [
    ({"url": "acme.atlassian.net"}, "[jira] url = 'acme.atlassian.net' is not a Jira address"),
    ({"username": None}, "[jira] username is required on Jira Cloud"),
    ({"token": "secret-in-the-file"}, "[jira] token must be a reference such as { env = \"NAME\" }"),
    ({"project": "Operations"}, "[jira] project = 'Operations' is not a Jira project key"),
    ({"api_version": 4}, "[jira] api_version must be 2 or 3"),
    ({"priority_map": {"P1": 1}}, "[jira] priority_map.P1 must be the name of a Jira priority"),
    ({"extra_fields": {"summary": "x"}}, "[jira] extra_fields.summary: this field is set from the action item"),
    ({"by_severity": {"SEV1": {"projects": "INC"}}}, "[jira] by_severity.SEV1: unknown key 'projects'"),
    ({"by_severity": {"SEV1": {"project": "inc"}}}, "[jira] by_severity.SEV1.project = 'inc' is not a Jira project"),
])
def test_errors_name_the_key(tmp_path: Path, jira: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings(tmp_path, **jira)
    assert message in str(raised.value)


def test_the_file_knows_every_jira_key_and_refuses_typos(tmp_path: Path) -> None:
    path = tmp_path / "postmortem.toml"
    path.write_text('[jira]\nurl = "https://acme.atlassian.net"\nprojct = "OPS"\n')
    with pytest.raises(ConfigError, match="unknown key 'projct' in \\[jira\\]"):
        load_config(str(path))
