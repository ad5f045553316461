from __future__ import annotations

from pathlib import Path

import pytest

from ops_postmortem.connectors.local.store import LocalStore
from ops_postmortem.errors import DocumentError
from ops_postmortem.people import Directory, DirectoryEntry
from ops_postmortem.signoff import SignOffRules
from ops_postmortem.workflows.review import ReviewSettings, doc_reviewers, required_reviewers, review

DOC = """# Postmortem: x

<!-- ops-postmortem incident="INC-9" -->

- **Status:** Draft
- **Severity:** SEV1

## Review and sign-off

| Reviewer | Role | Status | Date |
| --- | --- | --- | --- |
| Dana Kim | IC | pending |  |
| _TODO(authors): name the reviewers._ |  |  |  |
"""


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    (tmp_path / "INC-9.md").write_text(DOC)
    return LocalStore(tmp_path)


def test_reviewers_come_from_flags_config_severity_and_the_doc(store: LocalStore) -> None:
    doc = store.read(store.locate("INC-9"))
    assert [p.name for p in doc_reviewers(doc)] == ["Dana Kim"]
    settings = ReviewSettings(reviewers=("lead@acme.test",), by_severity={"SEV1": ("vp@acme.test",)})
    people = required_reviewers(doc, ["Priya Raman"], settings)
    assert [p.email or p.name for p in people] == ["Priya Raman", "lead@acme.test", "vp@acme.test", "Dana Kim"]


def test_no_reviewers_at_all_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "INC-9.md").write_text(DOC.split("## Review")[0])
    store = LocalStore(tmp_path)
    with pytest.raises(DocumentError, match="nobody is required to review"):
        review(store, store.locate("INC-9"), SignOffRules(), ReviewSettings())


def test_record_marks_final_and_fills_the_table_keeping_roles(store: LocalStore) -> None:
    ref = store.locate("INC-9")
    store.add_comment(ref, "LGTM", author="Dana Kim <dana@acme.test>")
    result = review(store, ref, SignOffRules(), ReviewSettings(), record=True)
    assert result.report.signed_off and result.recorded
    text = (store.directory / "INC-9.md").read_text()
    assert "**Status:** Final" in text
    assert "| Dana Kim | IC | Approved |" in text
    again = review(store, ref, SignOffRules(), ReviewSettings(), record=True)
    assert again.report.signed_off and not again.recorded  # already Final: nothing rewritten


def test_unknown_reviewer_is_warned_about(store: LocalStore) -> None:
    ref = store.locate("INC-9")
    store.add_comment(ref, "LGTM", author="Dana Kim")
    rules = SignOffRules(Directory([DirectoryEntry("Dana Kim", "dana@acme.test")]))
    result = review(store, ref, rules, ReviewSettings(), flags=["Dnaa Kim"])
    assert not result.report.signed_off
    assert any("'Dnaa Kim' is not in the [people] directory" in w for w in result.warnings)
