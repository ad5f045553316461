from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ops_postmortem.connectors.local.comments import CommentLog, parse_author
from ops_postmortem.errors import InputError, UsageError
from ops_postmortem.model import UTC, Person

T0 = datetime(2026, 11, 5, 9, tzinfo=UTC)


def test_author_forms() -> None:
    assert parse_author("Dana Kim <dana@acme.test>") == Person("Dana Kim", "dana@acme.test")
    assert parse_author("dana@acme.test") == Person("dana", "dana@acme.test")
    assert parse_author("Dana Kim") == Person("Dana Kim")
    with pytest.raises(UsageError):
        parse_author("  ")


def test_comments_replies_and_state_round_trip(tmp_path: Path) -> None:
    log = CommentLog(tmp_path / "INC-1.comments.jsonl")
    first = log.add(Person("Priya"), "The deploy was at 23:31", quote="23:30", at=T0)
    second = log.add(Person("Dana Kim", "dana@acme.test"), "LGTM", at=T0 + timedelta(minutes=1))
    assert (first.id, second.id) == ("c1", "c2")
    log.reply("c1", Person("Dana Kim"), "fixed", action="resolve", at=T0 + timedelta(minutes=2))
    log.reply("c1", Person("Priya"), "still off by one minute", action="reopen", at=T0 + timedelta(minutes=3))
    threads = {c.id: c for c in CommentLog(log.path).read()}
    assert threads["c1"].quote == "23:30"
    assert [r.id for r in threads["c1"].replies] == ["c1.r1", "c1.r2"]
    assert threads["c1"].resolved is False
    assert threads["c2"].author.email == "dana@acme.test"
    assert threads["c2"].created_at == T0 + timedelta(minutes=1)


def test_reply_to_unknown_comment(tmp_path: Path) -> None:
    log = CommentLog(tmp_path / "x.comments.jsonl")
    log.add(Person("a"), "t")
    with pytest.raises(UsageError, match="no comment 'c9'.*known comments: c1"):
        log.reply("c9", Person("a"), "x")


def test_corrupt_line_names_the_file_and_line_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "x.comments.jsonl"
    log = CommentLog(path)
    log.add(Person("a"), "first")
    with path.open("a") as handle:
        handle.write('{"op": "comment", "id": "c2", "auth')  # a crash mid-write
    with pytest.raises(InputError, match=r"x\.comments\.jsonl:2: corrupt comment line"):
        log.read()
    assert path.read_text().startswith('{"op": "comment", "id": "c1"')


def test_missing_field_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.comments.jsonl"
    path.write_text('{"op": "comment", "id": "c1"}\n')
    with pytest.raises(InputError, match="malformed comment record"):
        CommentLog(path).read()


def test_no_file_means_no_comments(tmp_path: Path) -> None:
    assert CommentLog(tmp_path / "none.jsonl").read() == []
