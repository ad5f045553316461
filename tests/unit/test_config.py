from datetime import timedelta
from pathlib import Path

import pytest

from ops_postmortem.config import Section, load_config
from ops_postmortem.errors import ConfigError


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "postmortem.toml"
    path.write_text(text)
    return str(path)


def test_no_config_means_local_store_in_postmortems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POSTMORTEM_CONFIG", raising=False)
    config = load_config(None)
    assert config.path is None
    assert config.store_kind == "local"
    assert config.local_dir == tmp_path / "postmortems"


def test_default_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('[local]\ndir = "from-env"\n')
    monkeypatch.setenv("POSTMORTEM_CONFIG", str(other))
    monkeypatch.chdir(tmp_path)
    assert load_config(None).local_dir == tmp_path / "from-env"
    (tmp_path / "postmortem.toml").write_text('[local]\ndir = "from-cwd"\n')
    assert load_config(None).local_dir == tmp_path / "from-cwd"


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "pm.toml"
    path.write_text('[store]\nkind = "local"\n[local]\ndir = "docs"\n')
    assert load_config(str(path)).local_dir == tmp_path / "conf" / "docs"


def test_timeline_settings(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[timeline]\ntimezone = "Europe/Berlin"\nwindow_before = "30m"\n'
                                         'mitigation_patterns = ["\\\\bstable\\\\b"]\n'))
    settings = config.timeline
    assert settings.timezone == "Europe/Berlin"
    assert settings.window_before == timedelta(minutes=30)
    assert settings.mitigation_patterns == (r"\bstable\b",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[stroe]\nkind='local'\n", "unknown section [stroe]"),
        ("[store]\nknd='local'\n", "unknown key 'knd' in [store]"),
        ("[store]\nkind='dropbox'\n", "is not one of local, google, confluence"),
        ("[store\n", "invalid TOML"),
        ("[timeline]\nwindow_before = 'soon'\n", "not a duration"),
        ("[timeline]\nmitigation_patterns = ['(']\n", "bad regular expression"),
        ("[local]\ndir = 3\n", "[local] dir must be a string"),
    ],
)
def test_bad_config_names_the_place(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config = load_config(path)
        _ = (config.store_kind, config.local_dir, config.timeline)
    assert message in str(info.value)
    assert path in str(info.value)


def test_missing_explicit_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "nope.toml"))


def test_secrets_come_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = Section("slack", {"token": {"env": "SLACK_BOT_TOKEN"}}, "pm.toml").secret("token")
    assert ref is not None and "SLACK_BOT_TOKEN" in repr(ref)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN is not set"):
        ref.reveal()
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-value")
    assert ref.reveal() == "xoxb-value"
    assert "xoxb-value" not in repr(ref)


def test_a_literal_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="secrets never go in the file") as info:
        Section("slack", {"token": "xoxb-literal"}, "pm.toml").secret("token")
    assert "xoxb-literal" not in str(info.value)
