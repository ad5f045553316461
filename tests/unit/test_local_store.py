"""The local Markdown store: create, find, refresh (human edits kept), guarded cell writes, change feed."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ops_postmortem.connectors.local.store import LocalStore
from ops_postmortem.errors import ConflictError, DocumentError, InputError
from ops_postmortem.model import UTC, CellUpdate, Incident, Kind, Timeline, TimelineEvent
from tests.unit.test_render_markdown import at, sample_timeline

ID = "PD-Q1ABC2DEF"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "postmortems")


def later_timeline() -> Timeline:
    return sample_timeline(
        extra_events=(
            TimelineEvent(
                at(0, 30, 0, day=4),
                "slack",
                Kind.MESSAGE,
                "all clear, closing the channel",
                actor="ana",
                ident="1762216200.000300",
            ),
        )
    )


def set_mtime(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def test_create_writes_the_rendered_doc_atomically(store: LocalStore) -> None:
    ref = store.create(sample_timeline())
    path = store.directory / f"{ID}.md"
    assert ref.store == "local" and ref.id == ID
    assert ref.url == path.absolute().as_uri()
    assert ref.title == "Checkout API returned 5xx for 34 minutes"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Postmortem: Checkout API returned 5xx for 34 minutes\n")
    assert f'<!-- ops-postmortem incident="{ID}" -->' in text
    assert sorted(p.name for p in store.directory.iterdir()) == [f"{ID}.md"]  # no temp file left
    assert path.stat().st_mode & 0o777 == 0o644


def test_create_never_overwrites(store: LocalStore) -> None:
    store.create(sample_timeline())
    path = store.directory / f"{ID}.md"
    path.write_text("# Postmortem: edited by hand\n", encoding="utf-8")
    with pytest.raises(ConflictError, match="already exists"):
        store.create(sample_timeline())
    assert path.read_text(encoding="utf-8") == "# Postmortem: edited by hand\n"
    assert sorted(p.name for p in store.directory.iterdir()) == [f"{ID}.md"]


@pytest.mark.parametrize("bad", ["../escape", "a/b", ".hidden", "..", "", "a\\b", "x\n", "ü-1", "a" * 201])
def test_ids_that_could_leave_the_folder_are_refused(tmp_path: Path, bad: str) -> None:
    store = LocalStore(tmp_path / "postmortems")
    timeline = replace(sample_timeline(), incident=Incident(id=bad, title="t"))
    with pytest.raises(InputError) as caught:
        store.create(timeline)
    assert "letters, digits" in (caught.value.hint or "")
    with pytest.raises(InputError):
        store.find(bad)
    assert list(tmp_path.rglob("*")) == []


def test_find_and_locate(store: LocalStore, tmp_path: Path) -> None:
    assert store.find(ID) is None
    ref = store.create(sample_timeline())
    assert store.find(ID) == ref
    path = store.directory / f"{ID}.md"
    assert store.locate(ID) == ref
    assert store.locate(str(path)) == ref
    assert store.locate(ref.url) == ref
    with pytest.raises(InputError, match="no postmortem for incident 'PD-NOPE'"):
        store.locate("PD-NOPE")
    with pytest.raises(InputError, match="no such postmortem file"):
        store.locate(str(tmp_path / "missing.md"))


def test_a_renamed_doc_is_found_by_its_marker(store: LocalStore) -> None:
    store.create(sample_timeline())
    (store.directory / f"{ID}.md").rename(store.directory / "2026-11-03-checkout.md")
    (store.directory / "README.md").write_text("# Our postmortems\n", encoding="utf-8")
    found = store.find(ID)
    assert found is not None and found.id == "2026-11-03-checkout"


def test_a_doc_outside_the_folder_is_known_by_its_path(store: LocalStore, tmp_path: Path) -> None:
    store.create(sample_timeline())
    elsewhere = tmp_path / "shared" / "pm.md"
    elsewhere.parent.mkdir()
    (store.directory / f"{ID}.md").rename(elsewhere)
    ref = store.locate(str(elsewhere))
    assert ref.id == str(elsewhere.absolute())
    assert store.read(ref).incident_id == ID


def test_refresh_regenerates_only_the_generated_blocks(store: LocalStore) -> None:
    ref = store.create(sample_timeline())
    path = store.directory / f"{ID}.md"
    human = (
        path.read_text(encoding="utf-8")
        .replace(
            "_TODO(authors): in two or three sentences, what happened, who or what was affected, and how it ended._",
            "Checkout failed for 34 minutes after deploy 4821.  \nTrailing spaces and all.",
        )
        .replace("- **Status:** Draft", "- **Status:** In review")
    )
    path.write_bytes(human.encode("utf-8"))
    assert store.refresh(ref, later_timeline()) is True
    after = path.read_text(encoding="utf-8")
    assert "| 00:30:00 | Slack | ana: all clear, closing the channel | 1762216200.000300 |" in after
    head, tail = (
        human.split("## Timeline")[0],
        human.split("<!-- ops-postmortem:generated:end metrics -->")[1],
    )
    assert after.startswith(head)
    assert after.endswith(tail)
    assert store.refresh(ref, later_timeline()) is False
    assert path.read_text(encoding="utf-8") == after


def test_refresh_refuses_a_hand_edited_block_unless_forced(store: LocalStore) -> None:
    ref = store.create(sample_timeline())
    path = store.directory / f"{ID}.md"
    edited = path.read_text(encoding="utf-8").replace(
        "Notified Ana Ruiz by SMS", "Notified Ana Ruiz by SMS (twice?)"
    )
    path.write_text(edited, encoding="utf-8")
    with pytest.raises(DocumentError) as caught:
        store.refresh(ref, later_timeline())
    assert "timeline were edited by hand" in str(caught.value) and str(path) in str(caught.value)
    assert "--force" in (caught.value.hint or "")
    assert path.read_text(encoding="utf-8") == edited
    assert store.refresh(ref, later_timeline(), force=True) is True
    assert "(twice?)" not in path.read_text(encoding="utf-8")
    assert store.refresh(ref, later_timeline()) is False  # the fresh block carries a fresh digest


def test_refresh_names_the_section_whose_markers_are_gone(store: LocalStore) -> None:
    ref = store.create(sample_timeline())
    path = store.directory / f"{ID}.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("<!-- ops-postmortem:generated:end metrics -->", ""), encoding="utf-8")
    with pytest.raises(DocumentError) as caught:
        store.refresh(ref, later_timeline())
    assert "'metrics' has lost its end marker" in str(caught.value)
    assert "ops-postmortem:generated:end metrics" in (caught.value.hint or "")


def test_read_gives_mtime_and_revision(store: LocalStore) -> None:
    ref = store.create(sample_timeline())
    path = store.directory / f"{ID}.md"
    when = datetime(2026, 11, 5, 8, 30, 15, 250000, tzinfo=UTC)
    set_mtime(path, when)
    doc = store.read(ref)
    assert doc.modified_at == when
    assert doc.revision == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.incident_id == ID and doc.status == "Draft"
    assert [t.heading for t in doc.tables][-2:] == ["Action items", "Review and sign-off"]


def test_update_cells_writes_and_returns_the_new_mtime(store: LocalStore) -> None:
    ref = store.create(sample_timeline())
    doc = store.read(ref)
    modified = store.update_cells(
        ref, [CellUpdate(table=4, row=0, column=2, text="approved")], revision=doc.revision
    )
    again = store.read(ref)
    assert again.tables[4].rows[0][2].text == "approved"
    assert modified == again.modified_at
    assert again.revision != doc.revision


def test_update_cells_with_a_stale_revision_is_a_conflict(store: LocalStore) -> None:
    ref = store.create(sample_timeline())
    stale = store.read(ref).revision
    path = store.directory / f"{ID}.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nA late note.\n", encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(ConflictError, match="changed since it was read"):
        store.update_cells(ref, [CellUpdate(table=4, row=0, column=2, text="approved")], revision=stale)
    assert path.read_bytes() == before


def test_changed_since(store: LocalStore) -> None:
    old = store.create(sample_timeline())
    new = store.create(replace(sample_timeline(), incident=Incident(id="PD-NEWER", title="Later incident")))
    (store.directory / "README.md").write_text("# Not a postmortem\n", encoding="utf-8")
    base = datetime(2026, 11, 10, tzinfo=UTC)
    set_mtime(store.directory / f"{ID}.md", base)
    set_mtime(store.directory / "PD-NEWER.md", base + timedelta(hours=2))
    assert [c.ref for c in store.changed_since(None)] == [old, new]
    changes = store.changed_since(base + timedelta(hours=1))
    assert [(c.ref, c.modified_at) for c in changes] == [(new, base + timedelta(hours=2))]
    assert store.changed_since(base + timedelta(hours=2)) == []


def test_changed_since_on_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert LocalStore(tmp_path / "nowhere").changed_since(None) == []


def test_a_file_that_is_not_utf8_is_an_input_error(store: LocalStore) -> None:
    ref = store.create(sample_timeline())
    (store.directory / f"{ID}.md").write_bytes(b"# Postmortem: \xff\xfe\n")
    with pytest.raises(InputError, match="not UTF-8"):
        store.read(ref)


def test_team_templates_are_used(tmp_path: Path) -> None:
    templates = tmp_path / "templates" / "markdown"
    templates.mkdir(parents=True)
    (templates / "postmortem.md.j2").write_text(
        '# Postmortem: {{ incident.title|cell }}\n<!-- ops-postmortem incident="{{ incident.id|cell }}" -->\n'
        "<!-- ops-postmortem:generated:start timeline -->\n{{ events|length }} events\n"
        "<!-- ops-postmortem:generated:end timeline -->\n",
        encoding="utf-8",
    )
    store = LocalStore(tmp_path / "pm", template_dir=tmp_path / "templates")
    ref = store.create(sample_timeline())
    assert "\n7 events\n" in (tmp_path / "pm" / f"{ID}.md").read_text(encoding="utf-8")
    assert store.refresh(ref, later_timeline()) is True
    assert "\n8 events\n" in (tmp_path / "pm" / f"{ID}.md").read_text(encoding="utf-8")
