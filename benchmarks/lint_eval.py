"""Precision and recall of the blameless lint on the labelled corpus, per rule and overall.

    python benchmarks/lint_eval.py [--split dev|heldout] [--errors]

Sentence rules are scored on tests/fixtures/lint/corpus.jsonl (one sentence in its section per line; the
people in people.txt stand for the reviewers, owners and responders the CLI passes). trigger-latent is scored
per document on root_causes.jsonl. "dev" sentences were written before and used while tuning the rules;
"heldout" sentences were written after the rules were frozen and scored once.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops_postmortem.lint import lint_document
from ops_postmortem.model import Cell, DocRef, Document, Section, Table

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "lint"
SENTENCE_RULES = ("blame", "hedge", "unsupported-claim", "unanswered-prompt")
REF = DocRef("local", "corpus", "file:///corpus.md")
# A valid action table, so that documents built here are judged on the rule under test only.
_ACTIONS = Table(
    0,
    "Action items",
    ("Action", "Owner", "Due", "Done when"),
    (
        (
            Cell("Add a CI check rejecting pool max below 20"),
            Cell("Priya Raman"),
            Cell("2026-12-01"),
            Cell("CI fails on a config with max=5"),
        ),
    ),
)


@dataclass(frozen=True)
class Score:
    rule: str
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def load(path: Path, split: str | None = None) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in records if split is None or r.get("split") == split]


def people() -> list[str]:
    return [
        ln.strip() for ln in (FIXTURES / "people.txt").read_text(encoding="utf-8").splitlines() if ln.strip()
    ]


def sentence_doc(text: str, section: str) -> Document:
    """The sentence in its section; Trigger and Latent conditions sit under Root cause as in the template."""
    sections: tuple[Section, ...]
    if section in ("Trigger", "Latent conditions"):
        sections = (Section("Root cause", 2, ""), Section(section, 3, text))
    else:
        sections = (Section(section, 2, text),)
    return Document(REF, "corpus", "Draft", sections, (_ACTIONS,))


def predict(record: dict[str, Any], names: Sequence[str]) -> set[str]:
    findings = lint_document(sentence_doc(record["text"], record["section"]), people=names)
    return {f.rule for f in findings if f.rule in SENTENCE_RULES}


def score(rule: str, pairs: Iterable[tuple[set[str], set[str]]]) -> Score:
    tp = fp = fn = 0
    for gold, got in pairs:
        tp += rule in gold and rule in got
        fp += rule not in gold and rule in got
        fn += rule in gold and rule not in got
    return Score(rule, tp, fp, fn)


def evaluate_sentences(records: Sequence[dict[str, Any]]) -> dict[str, Score]:
    names = people()
    pairs = [(set(r["labels"]), predict(r, names)) for r in records]
    return {rule: score(rule, pairs) for rule in SENTENCE_RULES}


def root_cause_doc(record: dict[str, Any]) -> Document:
    sections = tuple(Section(heading, level, text) for heading, level, text in record["sections"])
    return Document(REF, "corpus", "Draft", sections, (_ACTIONS,))


def evaluate_root_causes(records: Sequence[dict[str, Any]]) -> Score:
    pairs = [(set(r["labels"]), {f.rule for f in lint_document(root_cause_doc(r))}) for r in records]
    return score("trigger-latent", pairs)


def overall(scores: Iterable[Score]) -> Score:
    items = list(scores)
    return Score("overall", sum(s.tp for s in items), sum(s.fp for s in items), sum(s.fn for s in items))


def table(scores: Sequence[Score]) -> str:
    lines = ["| Rule | TP | FP | FN | Precision | Recall |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {s.rule} | {s.tp} | {s.fp} | {s.fn} | {s.precision:.3f} | {s.recall:.3f} |" for s in scores]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "heldout"), help="score one part of the corpus only")
    parser.add_argument("--errors", action="store_true", help="list every disagreement with the labels")
    args = parser.parse_args()
    sentences = load(FIXTURES / "corpus.jsonl", args.split)
    documents = load(FIXTURES / "root_causes.jsonl", args.split)
    per_rule = [*evaluate_sentences(sentences).values(), evaluate_root_causes(documents)]
    print(
        f"{len(sentences)} sentences, {len(documents)} root-cause sections"
        f"{f' (split: {args.split})' if args.split else ''}\n"
    )
    print(table([*per_rule, overall(per_rule)]))
    if args.errors:
        names = people()
        for record in sentences:
            got = predict(record, names)
            if got != set(record["labels"]):
                print(
                    f"\n[{record['section']}] {record['text']}\n"
                    f"  labels {sorted(record['labels'])} got {sorted(got)}"
                )
        for record in documents:
            got = {f.rule for f in lint_document(root_cause_doc(record))} & {"trigger-latent"}
            if got != set(record["labels"]):
                print(f"\n[root cause] {record['name']}: labels {record['labels']} got {sorted(got)}")


if __name__ == "__main__":
    main()
