from datetime import datetime, timedelta

import pytest

from ops_postmortem.model import UTC, CommentReply, Person, ReviewComment
from ops_postmortem.people import Directory, DirectoryEntry, normalise_name, person_from_text
from ops_postmortem.signoff import SignOffRules, sign_off, thread_open

T0 = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
DANA = Person("Dana Kim", "dana@acme.test")
PRIYA = Person("Priya Raman")
RULES = SignOffRules()


def comment(cid: str, author: Person, minutes: int, text: str, *, quote: str | None = None,
            resolved: bool = False, replies: tuple[CommentReply, ...] = ()) -> ReviewComment:
    return ReviewComment(cid, author, T0 + timedelta(minutes=minutes), text, quote, resolved, replies)


def reply(rid: str, author: Person, minutes: int, text: str, action: str | None = None) -> CommentReply:
    return CommentReply(rid, author, T0 + timedelta(minutes=minutes), text, action)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["LGTM", "lgtm!", "Looks good to me.", "Approved", "signed off", "+1", "✅ ship it"])
def test_approvals(text: str) -> None:
    assert RULES.stance(text) is True


@pytest.mark.parametrize("text", ["not LGTM yet", "Not approved", "I can't sign off on this",
                                  "LGTM once the timeline is fixed", "-1, the trigger is wrong", "changes requested", "lgtm?"])
def test_not_approvals(text: str) -> None:
    assert RULES.stance(text) is False


def test_plain_comments_have_no_stance() -> None:
    assert RULES.stance("The deploy was at 23:31, not 23:30") is None


def test_thread_state_follows_the_last_resolve_or_reopen() -> None:
    c = comment("c1", PRIYA, 0, "typo", resolved=True,
                replies=(reply("r1", DANA, 1, "fixed", "resolve"), reply("r2", PRIYA, 2, "still wrong", "reopen")))
    assert thread_open(c)
    closed = comment("c2", PRIYA, 0, "typo", replies=(reply("r1", DANA, 1, "", "resolve"),))
    assert not thread_open(closed)
    assert thread_open(comment("c3", PRIYA, 0, "typo"))
    assert not thread_open(comment("c4", PRIYA, 0, "typo", resolved=True))


def test_everyone_approved_signs_off() -> None:
    report = sign_off([DANA, PRIYA], [comment("1", DANA, 0, "LGTM"), comment("2", PRIYA, 5, "Approved")], RULES)
    assert report.signed_off
    assert [r.status for r in report.reviewers] == ["approved", "approved"]
    assert report.reviewers[0].quote == "LGTM"
    assert report.open_threads == ()


def test_open_correction_blocks_even_after_lgtm() -> None:
    comments = [comment("1", PRIYA, 0, "The trigger section blames Dana", quote="Dana should have"),
                comment("2", PRIYA, 5, "LGTM otherwise")]
    report = sign_off([PRIYA], comments, RULES)
    assert not report.signed_off
    assert report.reviewers[0].status == "changes_requested"
    assert report.reviewers[0].threads == ("1",)
    assert [t.quote for t in report.open_threads] == ["Dana should have"]


def test_resolving_the_correction_unblocks() -> None:
    comments = [comment("1", PRIYA, 0, "fix the time", replies=(reply("r", DANA, 3, "done", "resolve"),)),
                comment("2", PRIYA, 5, "LGTM")]
    assert sign_off([PRIYA], comments, RULES).signed_off


def test_latest_stance_wins() -> None:
    comments = [comment("1", PRIYA, 0, "LGTM", replies=(reply("r1", PRIYA, 10, "Actually not LGTM yet"),))]
    first = sign_off([PRIYA], comments, RULES).reviewers[0]
    assert first.status == "changes_requested" and first.threads == ()
    comments.append(comment("3", PRIYA, 20, "ok, approved now"))
    assert sign_off([PRIYA], comments, RULES).reviewers[0].status == "approved"


def test_a_top_level_objection_is_an_open_thread_until_resolved() -> None:
    comments = [comment("1", PRIYA, 0, "Not LGTM: the impact numbers are wrong"), comment("2", PRIYA, 20, "LGTM")]
    assert sign_off([PRIYA], comments, RULES).reviewers[0].threads == ("1",)


def test_pending_reviewer_blocks() -> None:
    report = sign_off([DANA, PRIYA], [comment("1", DANA, 0, "LGTM")], RULES)
    assert not report.signed_off
    assert report.reviewers[1].status == "pending"


def test_names_match_without_email_across_case_and_accents() -> None:
    jose = Person("José Núñez", "jose@acme.test")
    commenter = Person("jose nunez")  # Drive often omits the e-mail
    assert sign_off([jose], [comment("1", commenter, 0, "LGTM")], RULES).signed_off


def test_directory_links_email_to_display_name() -> None:
    directory = Directory([DirectoryEntry("Dana Kim", "dana@acme.test", ("dkim",))])
    rules = SignOffRules(directory)
    reviewer = person_from_text("dana@acme.test")
    assert sign_off([reviewer], [comment("1", Person("dkim"), 0, "LGTM")], rules).signed_off
    assert not sign_off([reviewer], [comment("1", Person("dkim"), 0, "LGTM")], RULES).signed_off


def test_approval_older_than_the_last_edit_is_flagged() -> None:
    report = sign_off([DANA], [comment("1", DANA, 0, "LGTM")], RULES, doc_modified_at=T0 + timedelta(hours=1))
    assert report.signed_off and report.reviewers[0].edited_since


def test_deleted_comments_are_ignored() -> None:
    deleted = ReviewComment("1", DANA, T0, "LGTM", deleted=True)
    assert not sign_off([DANA], [deleted], RULES).signed_off


def test_no_reviewers_is_never_signed_off() -> None:
    assert not sign_off([], [], RULES).signed_off


def test_custom_approval_phrases() -> None:
    rules = SignOffRules(approval_phrases=[r"\bfreigegeben\b"])
    assert rules.stance("Freigegeben") is True
    assert rules.stance("LGTM") is None


def test_normalise_name() -> None:
    assert normalise_name("  José   NÚÑEZ ") == normalise_name("@jose.nunez") == "jose nunez"
