"""Blameless lint: each rule on documents built here, the labelled corpus as a regression gate, and real
Markdown (the rendered default template and a completed postmortem) through the local parser."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from benchmarks.lint_eval import (
    SENTENCE_RULES,
    evaluate_root_causes,
    evaluate_sentences,
    load,
)
from ops_postmortem.actions import CheckRules
from ops_postmortem.dates import DateParser
from ops_postmortem.lint import RULES, Finding, findings_json, lint_document, sentences
from ops_postmortem.markdown_doc import parse_markdown
from ops_postmortem.model import Cell, DocRef, Document, Section, Table
from tests.conftest import FIXTURES

REF = DocRef("local", "INC-7", "file:///tmp/INC-7.md")
ACTION_HEADER = ("Action", "Type", "Owner", "Due", "Priority", "Done when", "Ticket")
GOOD_ROW = (
    "Add a CI check rejecting pool max below 20",
    "prevent",
    "Priya Raman",
    "2026-11-24",
    "P1",
    "CI fails on a config with max=5",
    "PM-3",
)
GOOD_ROOT = (
    Section("Root cause", 2, ""),
    Section("Trigger", 3, "PR #4411 lowered the pool max from 20 to 5 at 23:31."),
    Section(
        "Latent conditions", 3, "The config schema accepts any pool size, and no alert watches saturation."
    ),
)
PEOPLE = ("Priya Raman", "Tom Becker", "@dana-k")


def actions(*rows: tuple[str, ...], heading: str = "Action items", index: int = 0) -> Table:
    return Table(index, heading, ACTION_HEADER, tuple(tuple(Cell(c) for c in row) for row in rows))


def doc(*sections: Section, tables: tuple[Table, ...] | None = None) -> Document:
    body = (*GOOD_ROOT, *sections)
    return Document(REF, "Checkout errors", "Draft", body, (actions(GOOD_ROW),) if tables is None else tables)


def rules(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def lint(*sections: Section) -> list[Finding]:
    return lint_document(doc(*sections), people=PEOPLE)


# ---- the labelled corpus -----------------------------------------------------------------------------


def test_corpus_is_large_and_well_formed() -> None:
    records = load(FIXTURES / "lint" / "corpus.jsonl")
    assert len(records) >= 150
    assert {r["split"] for r in records} == {"dev", "heldout"}
    for record in records:
        assert set(record) >= {"text", "section", "labels"}
        assert set(record["labels"]) <= set(SENTENCE_RULES), record
    labelled = {rule: sum(rule in r["labels"] for r in records) for rule in SENTENCE_RULES}
    assert labelled["blame"] >= 40 and labelled["unsupported-claim"] >= 40 and labelled["hedge"] >= 20
    # Precision is only meaningful with many hard negatives: sentences that carry trigger words but no blame.
    assert sum(not r["labels"] for r in records) >= 100


SENTENCE_SCORES = evaluate_sentences(load(FIXTURES / "lint" / "corpus.jsonl"))


@pytest.mark.parametrize("rule", SENTENCE_RULES)
def test_corpus_precision_and_recall(rule: str) -> None:
    result = SENTENCE_SCORES[rule]
    assert result.tp > 0
    assert result.precision >= 0.95, result
    assert result.recall >= 0.7, result


def test_root_cause_corpus_precision_and_recall() -> None:
    result = evaluate_root_causes(load(FIXTURES / "lint" / "root_causes.jsonl"))
    assert result.tp > 0
    assert result.precision >= 0.95, result
    assert result.recall >= 0.7, result


# ---- blame -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Priya forgot to run the schema migration before the deploy.",  # first name from `people`
        "Tom Becker should have checked the pool size before merging.",  # full name from `people`
        "@dana-k failed to acknowledge the page for 25 minutes.",  # handle
        "Kevin Hartley ignored the first three pages.",  # first name + surname, not in `people`
        "The on-call engineer didn't follow the runbook.",  # role used as a person
        "She neglected to tell anyone that the certificate was about to expire.",  # pronoun
        "The intern was careless with the production credentials.",
        "It was Tom's fault that the rollback took so long.",
        "This was a sloppy review by the author of the migration.",
        "Root cause: human error.",
        "Priya, the on-call engineer, failed to page the database team.",  # appositive
        "Marcus Oyelaran restarted the primary and then forgot to check replication lag.",  # elided subject
        "The deploy was pushed by Tom, who didn't bother to wait for the canary.",  # relative clause
    ],
)
def test_blame_on_people_is_flagged(text: str) -> None:
    found = rules(lint(Section("What went wrong", 2, text)), "blame")
    assert [(f.section, f.quote) for f in found] == [("What went wrong", text)]
    assert found[0].why and found[0].suggestion


@pytest.mark.parametrize(
    "text",
    [
        "The health check failed to run after the config reload.",
        "The alert should have fired at 2% but its threshold was 20%.",
        "The deploy failed and was retried automatically.",
        "Redis Sentinel failed to promote a replica within 30 seconds.",
        # possessive: the deploy failed
        "Priya's deploy failed to complete because the image pull timed out.",
        "The page to Tom failed to deliver because his number was outdated.",  # person as recipient
        "Priya should have been paged at 23:31 but the policy had no second level.",
        "The on-call engineer should have had a runbook for this failure mode.",
        "We failed to notice the slow growth of the queue.",  # "we" is the organisation
        "It was not Priya's fault: the form accepted any value.",  # negated
        "If the on-call engineer had ignored the page, the backup would have been paged.",  # hypothetical
        "The alert that Priya created failed to fire because its selector was wrong.",
        "Nobody is to blame for the expired certificate.",
        "Human error was ruled out: the CLI accepted the flag silently.",
        "Security Engineering failed to receive the alert.",  # a team name is not a person's name
        "Tom's error budget report was already red on Monday.",
    ],
)
def test_system_statements_are_not_blame(text: str) -> None:
    assert rules(lint(Section("What went wrong", 2, text)), "blame") == []


def test_blame_suggestion_turns_the_sentence_towards_the_system() -> None:
    (forgot,) = rules(lint(Section("What went wrong", 2, "Tom forgot to drain the node first.")), "blame")
    assert forgot.suggestion is not None and "prompted anyone to drain the node first" in forgot.suggestion
    (should,) = rules(
        lint(Section("What went wrong", 2, "Tom should have known the cache was cold.")), "blame"
    )
    assert should.suggestion is not None and should.suggestion.startswith("Hindsight")
    (generic,) = rules(lint(Section("Root cause", 2, "Root cause: human error.")), "blame")
    assert generic.suggestion is not None and "pool size of 5 without a check" in generic.suggestion


def test_names_are_only_known_people_when_a_single_word() -> None:
    text = "Priya failed to follow the change freeze."
    assert rules(lint_document(doc(Section("What went wrong", 2, text))), "blame") == []
    assert (
        len(rules(lint_document(doc(Section("What went wrong", 2, text)), people=["Priya Raman"]), "blame"))
        == 1
    )


def test_blame_in_table_cells_but_not_in_quoted_timeline_evidence() -> None:
    timeline = Table(
        0,
        "Timeline",
        ("Time (UTC)", "Source", "Event"),
        ((Cell("23:41"), Cell("Slack"), Cell("Tom should have checked the pool first")),),
    )
    wrong = Table(
        1,
        "What went wrong",
        ("Problem", "Notes"),
        ((Cell("Rollback was slow"), Cell("Tom should have checked the pool first.")),),
    )
    document = Document(
        REF,
        "t",
        "Draft",
        (*GOOD_ROOT, Section("Timeline", 2, ""), Section("What went wrong", 2, "")),
        (timeline, wrong, actions(GOOD_ROW, index=2)),
    )
    found = rules(lint_document(document, people=PEOPLE), "blame")
    assert [(f.section, f.quote) for f in found] == [
        ("What went wrong", "Tom should have checked the pool first.")
    ]


# ---- hedge and unsupported claims --------------------------------------------------------------------


def test_hedged_cause_in_root_cause_is_flagged_with_its_missing_evidence() -> None:
    text = "The pool was probably exhausted by the nightly batch job."
    found = lint(Section("Contributing factors", 2, text))
    assert {f.rule for f in found} == {"hedge", "unsupported-claim"}
    assert all(f.section == "Contributing factors" and f.quote == text for f in found)


@pytest.mark.parametrize("section", ["Summary", "Impact", "Detection", "Lessons learned"])
def test_hedges_and_causes_outside_the_causal_sections_are_left_alone(section: str) -> None:
    found = lint(Section(section, 2, "We think the outage was probably caused by the batch job."))
    assert found == []


def test_sub_sections_of_root_cause_are_causal_whatever_their_name() -> None:
    document = Document(
        REF,
        "t",
        "Draft",
        (
            Section("Root cause", 2, ""),
            Section("Trigger", 3, "x at 23:31"),
            Section("Latent conditions", 3, "no minimum (PM-12)"),
            Section("Mechanism", 3, "Maybe the retries caused the overload."),
        ),
        (actions(GOOD_ROW),),
    )
    assert {(f.rule, f.section) for f in lint_document(document)} == {
        ("hedge", "Mechanism"),
        ("unsupported-claim", "Mechanism"),
    }


@pytest.mark.parametrize(
    "evidence",
    [
        "(https://grafana.example.com/d/db-pool)",
        "([pool graph](https://grafana.example.com/d/db-pool))",
        "at 23:31:10",
        "(see timeline)",
        "(OPS-2231)",
        "in PR #4411",
        "in acme/infra#812",
        "in commit 3f9c2ab",
        "as the pool saturation graph shows",
        "(pool saturation graph)",
        "per the proxy logs",
    ],
)
def test_claims_with_evidence_are_supported(evidence: str) -> None:
    text = f"Connection pool exhaustion caused the 502s {evidence}."
    assert rules(lint(Section("Root cause", 2, text)), "unsupported-claim") == []


@pytest.mark.parametrize(
    "text",
    [
        "There was no alert on connection pool saturation.",  # a condition, no causal claim
        "Why did the pool not recover after the rollback?",  # a question
        "Three conditions let the trigger do harm:",  # a lead-in
        "We will add a CI check that rejects small pools.",  # a plan
        "A canary stage might have caught the bad value.",  # a counterfactual, not a doubt
        "Retries without jitter make a thundering herd more likely (PM-7).",  # a likelihood, with evidence
    ],
)
def test_non_claims_in_causal_sections(text: str) -> None:
    assert lint(Section("Contributing factors", 2, text)) == []


def test_sentences_split_on_ends_not_on_abbreviations_numbers_or_urls() -> None:
    text = (
        "Latency rose 2.5x, e.g. on checkout (see https://x.example.com/a.b). The pool held 5 conns. "
        "Dr. Smith's v1.2.3 client retried! Did it?"
    )
    assert sentences(text) == [
        "Latency rose 2.5x, e.g. on checkout (see https://x.example.com/a.b).",
        "The pool held 5 conns.",
        "Dr. Smith's v1.2.3 client retried!",
        "Did it?",
    ]


def test_each_sentence_of_a_paragraph_and_each_bullet_is_judged_on_its_own() -> None:
    text = (
        "PR #4411 lowered the pool max to 5 at 23:31. This caused requests to queue.\n"
        "- Retries amplified the load\n  fourfold.\n"
        "- The schema allowed it (PM-12)."
    )
    found = rules(lint(Section("Contributing factors", 2, text)), "unsupported-claim")
    assert [f.quote for f in found] == [
        "This caused requests to queue.",
        "Retries amplified the load fourfold.",
    ]


# ---- trigger and latent conditions -------------------------------------------------------------------


def trigger_latent(*sections: Section) -> list[Finding]:
    return rules(lint_document(Document(REF, "t", "Draft", sections, (actions(GOOD_ROW),))), "trigger-latent")


def test_trigger_and_latent_answered_and_distinct() -> None:
    assert trigger_latent(*GOOD_ROOT) == []


def test_missing_latent_conditions() -> None:
    (found,) = trigger_latent(Section("Root cause", 2, "x"), Section("Trigger", 3, "PR #4411 at 23:31."))
    assert (found.section, found.quote) == ("Root cause", "(no Latent conditions sub-section)")
    assert found.suggestion is not None and "### Latent conditions" in found.suggestion


def test_prompt_only_sub_section_counts_as_empty_and_quotes_the_prompt() -> None:
    prompt = "_TODO(authors): the change or event that set the incident off._"
    found = trigger_latent(Section("Root cause", 2, ""), Section("Trigger", 3, prompt), GOOD_ROOT[2])
    assert [(f.section, f.quote) for f in found] == [
        ("Trigger", "TODO(authors): the change or event that set the incident off.")
    ]


def test_trigger_and_latent_saying_the_same_thing() -> None:
    found = trigger_latent(
        Section("Root cause", 2, ""),
        Section("Trigger", 3, "The cert expired."),
        Section("Latent conditions", 3, "The certificate expired."),
    )
    assert [(f.section, f.quote) for f in found] == [("Latent conditions", "The certificate expired.")]


def test_no_root_cause_at_all_is_one_finding() -> None:
    found = trigger_latent(Section("Summary", 2, "Checkout failed."))
    assert [f.quote for f in found] == ["(no Root cause section)"]


def test_inline_trigger_and_latent_labels_in_the_root_cause_body() -> None:
    body = (
        "Trigger: PR #4411 lowered the pool max to 5.\n\nLatent conditions: the schema accepts any pool size."
    )
    assert trigger_latent(Section("3. Root Cause", 2, body)) == []


# ---- unanswered prompts ------------------------------------------------------------------------------


def test_every_prompt_is_one_finding_quoting_it() -> None:
    text = (
        "_TODO(authors): who was affected, how many, for how long?_\n"
        "About 4,100 checkouts failed.\n"
        "- **Authors:** _TODO(authors): add your names._ _TODO(authors): and the reviewers._"
    )
    found = lint(Section("Impact", 2, text))
    assert [(f.rule, f.quote) for f in found] == [
        ("unanswered-prompt", "TODO(authors): who was affected, how many, for how long?"),
        ("unanswered-prompt", "TODO(authors): add your names."),
        ("unanswered-prompt", "TODO(authors): and the reviewers."),
    ]


def test_prompts_are_not_claims_or_hedges() -> None:
    text = "TODO(authors): probably a config change? It likely caused the outage, confirm with Priya"
    assert {f.rule for f in lint(Section("Contributing factors", 2, text))} == {"unanswered-prompt"}


def test_prompts_in_table_cells() -> None:
    row = ("TODO(authors): add the first action", "", "", "", "", "", "")
    found = lint_document(doc(tables=(actions(GOOD_ROW, row),)))
    assert [(f.rule, f.section, f.quote) for f in found if f.rule == "unanswered-prompt"] == [
        ("unanswered-prompt", "Action items", "TODO(authors): add the first action")
    ]


# ---- action items ------------------------------------------------------------------------------------


def test_invalid_action_rows_quote_the_action_and_join_the_problems() -> None:
    vague = ("Be more careful with configs", "prevent", "SRE team", "next sprint", "P1", "", "")
    found = rules(lint_document(doc(tables=(actions(GOOD_ROW, vague),))), "action-item")
    assert len(found) == 1
    assert (found[0].section, found[0].quote) == ("Action items", "Be more careful with configs")
    assert "not specific" in found[0].why and "not owned" in found[0].why and "; " in found[0].why


def test_ideas_are_not_checked() -> None:
    idea = ("Idea: move to PgBouncer", "", "", "", "", "", "")
    assert rules(lint_document(doc(tables=(actions(GOOD_ROW, idea),))), "action-item") == []


def test_no_action_table_is_one_finding_not_an_exception() -> None:
    (found,) = rules(lint_document(doc(tables=())), "action-item")
    assert found.quote == "(no action-item table)" and "no action-item table found" in found.why


def test_empty_action_table_is_one_finding() -> None:
    (found,) = rules(lint_document(doc(tables=(actions(),))), "action-item")
    assert found.quote == "(no action items)"


def test_rules_and_date_parser_are_passed_to_the_checks() -> None:
    late = (
        "Add a CI check rejecting pool max below 20",
        "prevent",
        "Priya Raman",
        "19.02.2027",
        "P0",
        "CI fails on a config with max=5",
        "PM-3",
    )
    table = (actions(late),)
    assert rules(lint_document(doc(tables=table), date_parser=DateParser("de-DE")), "action-item") == []
    strict = CheckRules(incident_date=date(2026, 11, 3), priority_limits={"P0": timedelta(weeks=1)})
    (found,) = rules(
        lint_document(doc(tables=table), rules=strict, date_parser=DateParser("de-DE")), "action-item"
    )
    assert "due within 1 week" in found.why


# ---- output ------------------------------------------------------------------------------------------


def test_findings_json_shape() -> None:
    findings = lint(Section("What went wrong", 2, "Tom forgot to drain the node."))
    data = findings_json(findings)
    assert data["count"] == len(findings) == 1
    assert data["findings"] == [
        {
            "rule": "blame",
            "section": "What went wrong",
            "quote": "Tom forgot to drain the node.",
            "why": findings[0].why,
            "suggestion": findings[0].suggestion,
        }
    ]
    assert json.loads(json.dumps(data)) == data
    assert findings_json([]) == {"findings": [], "count": 0}


def test_findings_come_in_document_order_and_use_known_rule_names() -> None:
    document = Document(
        REF,
        "t",
        "Draft",
        (
            Section("Summary", 2, "_TODO(authors): summary_"),
            Section("Root cause", 2, ""),
            Section("Trigger", 3, "Maybe the deploy caused it."),
            Section("What went wrong", 2, "Tom forgot to look."),
        ),
        (actions(heading="Action items"),),
    )
    found = lint_document(document, people=PEOPLE)
    assert [f.rule for f in found] == [
        "unanswered-prompt",
        "trigger-latent",
        "hedge",
        "unsupported-claim",
        "blame",
        "action-item",
    ]
    assert {f.rule for f in found} <= set(RULES)


# ---- real Markdown through the local store's parser --------------------------------------------------


def test_rendered_default_template_has_only_prompts_structure_and_no_actions() -> None:
    text = (FIXTURES / "golden" / "postmortem.md").read_text(encoding="utf-8")
    found = lint_document(parse_markdown(text, REF), people=["Ana Ruiz", "Dana Kim", "Eli Park"])
    by_rule = {rule: len(rules(found, rule)) for rule in RULES}
    assert by_rule == {
        "blame": 0,
        "unsupported-claim": 0,
        "hedge": 0,
        "trigger-latent": 2,
        "unanswered-prompt": text.count("TODO(authors):"),
        "action-item": 1,
    }


def test_completed_postmortem_has_no_findings() -> None:
    text = (FIXTURES / "lint" / "filled.md").read_text(encoding="utf-8")
    people = ["Ana Ruiz", "Dana Kim", "Eli Park", "Priya Raman", "Tom Becker"]
    assert (
        lint_document(
            parse_markdown(text, REF), people=people, rules=CheckRules(incident_date=date(2026, 11, 3))
        )
        == []
    )
