"""Blameless lint for a postmortem in any store.

Rules: blame aimed at people, hedged or unsupported causal claims, a root cause without both a trigger
and latent conditions, unanswered template prompts, and action items that fail the checks in `actions`.
Precision comes before recall: a false accusation of blame costs more trust than a missed one, so each
rule needs a clear signal (a person as the subject of blame language, a hedge word, a causal claim with no
evidence in the sentence).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ops_postmortem.actions import (
    TICKET_KEY,
    CheckRules,
    check_item,
    find_action_table,
    normalise_words,
    read_items,
)
from ops_postmortem.dates import DateParser
from ops_postmortem.errors import DocumentError
from ops_postmortem.model import Document, Section, Table

RULES = ("blame", "unsupported-claim", "hedge", "trigger-latent", "unanswered-prompt", "action-item")


@dataclass(frozen=True)
class Finding:
    rule: str  # one of RULES
    section: str  # heading of the section the quote is in
    quote: str  # the offending sentence or cell, trimmed
    why: str
    suggestion: str | None = None


WHY_BLAME = ("Blaming a person stops the analysis at 'who' and teaches people to hide mistakes; "
             "ask what in the system made the action easy to get wrong.")
WHY_HEDGE = ("A hedged cause is a guess: readers will treat it as the finding unless the evidence is shown "
             "or the doubt is made explicit.")
WHY_UNSUPPORTED = ("A causal claim without evidence cannot be checked by reviewers; link the graph, log, PR "
                   "or timeline entry that shows it.")
WHY_PROMPT = "A template prompt is still unanswered, so this part of the postmortem is not written yet."
SUGGEST_HEDGE = ("State what the evidence shows and link it; if the cause is still unknown, say so plainly "
                 "and add an action item to find out.")
SUGGEST_UNSUPPORTED = ("Add the evidence to the sentence: a link to the graph, log or PR, a ticket key, or "
                       "the time of the timeline entry (e.g. 'at 23:31, see timeline').")
SUGGEST_PROMPT = "Answer the prompt and delete the TODO line, or write 'Not applicable:' with the reason."
SUGGEST_TRIGGER_LATENT = ("Under Root cause, give '### Trigger' the change or event that set the incident "
                          "off (e.g. 'PR #4411 lowered the pool max to 5') and '### Latent conditions' what "
                          "let it do harm (e.g. 'the config schema accepted any pool size; no saturation "
                          "alert').")

# ---- text handling ------------------------------------------------------------------------------------

PROMPT = re.compile(r"TODO\(authors\):?", re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_FENCE = re.compile(r"^\s*(```|~~~)")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+(?:\[[ xX]\]\s+)?")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)[^)]*\)")
_EMPHASIS = re.compile(r"(?<!\w)[_*~]+|[_*~]+(?!\w)|`")
_SENTENCE_END = re.compile(r"([.!?]+[\"'”’)\]_*]*)\s+(?=[\"'“‘(\[_*]*[A-Z0-9@#])")
_ABBREVIATIONS = frozenset({"e.g", "i.e", "etc", "vs", "approx", "cf", "incl", "dr", "mr", "mrs", "ms", "st",
                            "no", "fig", "al", "inc", "ltd", "jr", "sr", "resp", "min", "max", "avg", "ca"})


def _heading(text: str) -> str:
    """A heading without numbering or markup: "3. Root Cause(s)" -> "root cause s"."""
    return re.sub(r"^\d+(?: \d+)* ", "", normalise_words(text))


def _plain(text: str) -> str:
    """What a reader sees: link labels instead of Markdown links, no emphasis marks or code ticks."""
    return " ".join(_EMPHASIS.sub("", _MD_LINK.sub(r"\1", text)).split())


def _prompts(line: str) -> list[str]:
    starts = [m.start() for m in PROMPT.finditer(line)]
    ends = [*starts[1:], len(line)] if starts else []
    return [line[s:e].rstrip(" \t_*") for s, e in zip(starts, ends, strict=True)]


def _body_lines(text: str) -> Iterator[str]:
    """Prose lines: no HTML comments, fenced code (pasted logs) or pipe-table rows (linted as tables)."""
    in_fence = False
    for line in _COMMENT.sub("", text).splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence or line.lstrip().startswith("|"):
            continue
        yield line


def _paragraphs(lines: Sequence[str]) -> list[str]:
    """Soft-wrapped lines joined; a blank line or a new bullet starts a new paragraph."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if not line.strip() or _BULLET.match(line) or line.lstrip().startswith("#"):
            if current:
                paragraphs.append(" ".join(current))
            current = [_BULLET.sub("", line).lstrip("# ").strip()] if line.strip() else []
            continue
        current.append(line.strip().lstrip("> ").strip())
    if current:
        paragraphs.append(" ".join(current))
    return [p for p in paragraphs if p]


def sentences(text: str) -> list[str]:
    """Sentences of one paragraph; abbreviations ("e.g."), initials and decimals do not end a sentence."""
    found: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        last = re.search(r"([\w.]+?)\.*$", text[start:match.start(1)])
        token = last.group(1).lower() if last else ""
        if match.group(1).startswith(".") and (token in _ABBREVIATIONS or re.fullmatch(r"[a-z]", token)):
            continue
        found.append(text[start:match.end(1)].strip())
        start = match.end()
    found.append(text[start:].strip())
    return [s for s in found if s]


def _trim(sentence: str) -> str:
    quote = sentence.strip()
    if len(quote) > 2 and quote[0] == quote[-1] and quote[0] in "_*":
        quote = quote.strip(quote[0]).strip()
    return quote


# ---- people and blame ---------------------------------------------------------------------------------

# Capitalised words that start sentences or name products, places, teams and parts of a system: never a
# person's name.
_NOT_NAMES = frozenset({
    "the", "this", "that", "these", "those", "a", "an", "our", "their", "its", "his", "her", "my", "your",
    "we", "it", "they", "there", "here", "after", "before", "during", "when", "while", "then", "so", "but",
    "and", "or", "if", "at", "on", "in", "by", "for", "from", "with", "without", "once", "since", "because",
    "as", "also", "no", "nobody", "every", "each", "all", "some", "both", "neither", "either", "another",
    "one", "two", "three", "first", "next", "later", "finally", "instead", "unfortunately", "meanwhile",
    "however", "root", "key", "action", "actions", "latent", "trigger", "contributing", "impact", "summary",
    "detection", "response", "timeline", "lessons", "what", "where", "why", "how", "who", "which", "whose",
    "status", "severity", "incident", "postmortem", "review", "reviewer", "reviewers", "owner", "due",
    "priority", "ticket", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "utc", "gmt", "black", "cyber", "new", "year", "christmas", "easter", "alert",
    "alerts", "alertmanager", "alerting", "manager", "rollouts", "rollout", "sentinel", "operator", "proxy",
    "gateway", "balancer", "controller", "server", "servers", "service", "services", "pool", "cluster",
    "cache", "queue", "worker", "workers", "scheduler", "agent", "engine", "monitor", "monitoring", "check",
    "checks", "pipeline", "runner", "job", "jobs", "deploy", "deploys", "deployment", "database", "store",
    "storage", "bucket", "function", "lambda", "team", "bot", "flag", "flags", "config", "console", "cloud",
    "armor", "front", "door", "registry", "hub", "lab", "ops", "watch", "insights", "dashboard",
    "dashboards", "grafana", "prometheus", "kafka", "redis", "postgres", "postgresql", "mysql", "mongo",
    "mongodb", "elastic", "elasticsearch", "search", "terraform", "ansible", "helm", "argo", "flux", "vault",
    "consul", "nomad", "envoy", "istio", "linkerd", "nginx", "haproxy", "jenkins", "airflow", "spark",
    "celery", "sidekiq", "slack", "jira", "confluence", "github", "gitlab", "bitbucket", "stripe", "twilio",
    "datadog", "sentry", "kubernetes", "docker", "fargate", "aurora", "dynamo", "dynamodb", "cosmos",
    "spanner", "bigtable", "pub", "sub", "page", "pages", "pagerduty", "opsgenie", "health", "load",
    "connection", "connections", "feature", "payments", "payment", "checkout", "billing", "auth", "login",
    "edge", "traffic", "canary", "blue", "green", "release", "build", "test", "tests", "staging",
    "production", "prod", "north", "south", "east", "west", "europe", "america", "asia", "pacific", "region",
    "zone", "primary", "replica", "replicas", "leader", "follower", "node", "nodes", "pod", "pods", "api",
    "apis", "web", "mobile", "app", "apps", "ios", "android", "client", "clients", "customer", "customers",
    "user", "users", "platform", "infra", "infrastructure", "network", "networking", "compute", "kernel",
    "linux", "windows", "mac", "chrome", "firefox", "safari", "google", "amazon", "aws", "azure",
    "microsoft", "apple", "meta", "oracle", "cloudflare", "fastly", "akamai", "heroku", "vercel", "netlify",
    "openai", "disruption", "budget", "autoscaler", "horizontal", "vertical", "cert", "certificate",
    "certificates", "secret", "secrets", "keys", "dns", "cdn", "tls", "ssl", "http", "https", "grpc", "rest",
    "graphql", "sql", "nosql", "orm", "sdk", "cli", "ui", "ux", "commander", "engineering", "operations",
    "success", "support", "security", "reliability", "sales", "marketing", "finance", "legal", "research",
    "product", "design", "data", "analytics", "desk", "center", "centre", "office", "group", "department",
    "division", "unit", "squad", "guild", "tribe", "org", "organization", "organisation", "site", "people",
    "qa", "hr",
})

_ROLE_NOUNS = (r"(?:on-?call|oncall)(?:\s+(?:engineer|sre|person|responder|developer|dev|lead))?|"
               r"engineer|developer|dev|sre|dba|sysadmin|admin|administrator|responder|incident commander|"
               r"reviewer|approver|author|deployer|release manager|manager|contractor|team lead|tech lead|"
               r"intern|new hire|employee|human|person|primary on-?call|secondary on-?call|ic")
_ROLE = re.compile(
    r"\b(?:the|our|their)\s+(?:[\w-]+\s+)?team\b|"
    r"\b(?:the|a|an|our|one|another|that|this|their|whichever|whoever)\s+"
    r"(?:(?:new|junior|senior|same|primary|secondary|backup|responding|deploying|reviewing|overnight|weekend|"
    r"on-?call|database|db|payments|platform|infra|backend|frontend|release)\s+){0,2}"
    rf"(?:{_ROLE_NOUNS})s?\b(?:\s+on\s+(?:call|duty|shift))?"
    r"|\bthe\s+operators?\s+on\s+(?:call|duty|shift)\b"
    r"|\b(?:someone|somebody|whoever was on call|the person on call)\b"
    r"|\b(?:engineers|developers|devs|responders|reviewers|interns|SREs|DBAs)\b",
    re.IGNORECASE,
)
_PRONOUN = re.compile(r"\b(?:he|she|He|She)\b")
_HANDLE = re.compile(r"(?<![\w.@/])@[A-Za-z0-9][\w.-]*\w")
_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
_NAME_WORD = rf"[{_UPPER}](?:[{_LOWER}]+|'[{_UPPER}][{_LOWER}]+)(?:-[{_UPPER}][{_LOWER}]+)?"
_FULL_NAME = re.compile(rf"(?=\b({_NAME_WORD}\s+(?:(?:van|von|de|da|del|der|di|le|la)\s+)?{_NAME_WORD})\b)")
_SINGLE_NAME = re.compile(rf"{_NAME_WORD}\b")


def _people_pattern(people: Sequence[str]) -> re.Pattern[str] | None:
    """Names, first names, surnames, handles and e-mails of the people we were told about."""
    forms: set[str] = set()
    for raw in people:
        name = raw.strip()
        if not name:
            continue
        forms.add(name)
        if "@" in name and " " not in name and not name.startswith("@"):
            continue  # an e-mail address is matched whole
        for token in name.lstrip("@").split():
            if len(token) > 1 and token[0].isupper() and token.lower() not in _NOT_NAMES:
                forms.add(token)
    if not forms:
        return None
    alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.compile(rf"(?<![\w@.])(?:{alternatives})(?![\w@])")


@dataclass(frozen=True)
class _Span:
    start: int
    end: int


def _person_spans(text: str, known: re.Pattern[str] | None) -> list[_Span]:
    spans = [_Span(m.start(), m.end()) for m in (*_ROLE.finditer(text), *_PRONOUN.finditer(text),
                                                  *_HANDLE.finditer(text))]
    if known is not None:
        spans += [_Span(m.start(), m.end()) for m in known.finditer(text)]
    for match in _FULL_NAME.finditer(text):
        first, *rest = match.group(1).split()
        if first.lower() not in _NOT_NAMES and rest[-1].lower() not in _NOT_NAMES:
            spans.append(_Span(match.start(1), match.end(1)))
    return spans


# Blame language that needs a person as its subject: "<person> forgot to ...". The group drives the
# suggestion.
_SUBJECT_BLAME = re.compile(
    r"\b(?:(?P<forgot>forgot to|forgotten to|neglected(?: to)?|did(?:n't| not) bother(?: to)?|"
    r"dropped the ball|messed up|screwed up|made an? (?:\w+ )?(?:mistake|error|blunder))"
    r"|(?P<failed>failed to|fails to)"
    r"|(?P<should>should(?:n't| not)? have|should've)"
    r"|(?P<ignored>ignored (?:the|a|an|its|their|his|her|all|every|several|repeated|multiple|those|these|"
    r"this|that|it|warnings?|alerts?|pages?)\b)"
    r"|(?P<follow>did(?:n't| not) follow)"
    r"|(?P<trait>(?:was|were|is|are|has been|had been|got|seemed|being)\s+(?:(?:very|really|quite|so|too|"
    r"pretty|a bit|extremely|just|simply|clearly|obviously|completely|totally)\s+)*(?:careless|sloppy|"
    r"negligent|incompetent|lazy|at fault|to blame)))\b",
    re.IGNORECASE,
)
_STRONG_KINDS = frozenset({"forgot", "trait"})  # personal enough that a lone capitalised word is a name
_SHOULD_NOT_BLAME = re.compile(  # "should have been paged", "should have had a runbook": what people lacked
    r"^\s+(?:had|received|got|gotten|access|been\s+(?!(?:more\s+)?(?:careful|aware|paying|watching|monitoring|"
    r"checking|quicker|faster|attentive|on top|more careful)\b))",
    re.IGNORECASE,
)
_ADVERBS = (r"(?:also|just|simply|then|clearly|obviously|again|still|later|subsequently|already|evidently|"
            r"initially|first|had|has|have|did|really|completely|totally|never)")
_LEAD_IN = re.compile(
    r"\s*(?:(?:at|around|by|on|after|before|about)\s+[\w:.-]+(?:\s+(?:utc|am|pm))?\s*,?\s*|later\s*,?\s*|"
    r"then\s*,?\s*|again\s*,?\s*|also\s*,?\s*|instead\s*,?\s*|unfortunately\s*,?\s*|finally\s*,?\s*|"
    r"first\s*,?\s*|next\s*,?\s*)*",
    re.IGNORECASE,
)
_TAIL = re.compile(  # what may follow the person before the verb: one short qualifier, then adverbs
    r"^(?:\s+(?:responsible\s+for|in\s+charge\s+of|from|on|in|at|of|for)\s+(?:the\s+)?[\w-]+(?:\s+[\w-]+)?)?"
    rf"(?:\s+{_ADVERBS})*\s*$",
    re.IGNORECASE,
)
_BOUNDARY = re.compile(
    r"[,;()\[\]—–]|:(?=\s)|\s-\s|\b(?:and|but|then|so|because|since|although|though|while|whereas|which|who|"
    r"whom|that|after|before|when|until|once|or|as|where|if|unless)\b",
    re.IGNORECASE,
)
_RELATIVE = frozenset({"which", "who", "whom"})
_ONLY_ADVERBS = re.compile(rf"(?:\s*{_ADVERBS})*\s*", re.IGNORECASE)
_NEGATION = re.compile(
    r"\b(?:not|never|no|nobody|neither|nor|without|if|unless|whether|rather than|instead of)\b|n't\b",
    re.IGNORECASE,
)

# Blame with the person as owner, agent or target rather than subject.
_BLAME_NOUNS = (r"(?:mistake|fault|error(?!\s+(?:budget|rate|logs?|messages?|count|page|handling|code))|"
                r"carelessness|negligence|sloppiness|incompetence|laziness|oversight|lapse|blunder|"
                r"screw-?up|slip-?up)")
_BLAME_ADJECTIVES = r"(?:careless|sloppy|negligent|incompetent|lazy)"
_BLAME_ADVERBS = r"(?:carelessly|sloppily|negligently|lazily|incompetently)"
_AFTER_ADVERB = re.compile(rf"\s+{_BLAME_ADVERBS}\b", re.IGNORECASE)
_POSSESSIVE_BLAME = re.compile(
    rf"^['’]s\s+(?:(?:own|big|simple|honest|stupid|silly|{_BLAME_ADJECTIVES})\s+)?{_BLAME_NOUNS}\b",
    re.IGNORECASE,
)
# "a mistake by <person>", "a careless change by <person>", "blame lies with <person>"
_AGENT_BLAME = re.compile(
    rf"\b(?:{_BLAME_NOUNS}\s+(?:made\s+|committed\s+)?(?:by|of|from|on the part of)|"
    rf"{_BLAME_ADJECTIVES}\s+(?:[\w-]+\s+){{0,2}}by|{_BLAME_ADVERBS}\s+(?:[\w-]+\s+)?by|"
    r"(?:blame|fault)(?:\s+for(?:\s+[\w-]+){1,5}?)?\s+(?:lies|lay|rests|rested|falls|fell|is|was)\s+"
    r"(?:squarely\s+|entirely\s+|solely\s+)?(?:with|on)|blamed?(?:\s+it)?(?:\s+on)?)\s+$",
    re.IGNORECASE,
)
_ATTRIBUTIVE_BLAME = re.compile(
    rf"\b(?:a|an|the|our|this|that|some)\s+{_BLAME_ADJECTIVES}\s+(?:{_ROLE_NOUNS})s?\b", re.IGNORECASE
)
_HUMAN_ERROR = re.compile(r"\bhuman (?:error|mistake|failure)s?\b", re.IGNORECASE)
# "human error is never a root cause", "calling this human error misses the point": the framing rejected.
_REJECTED_AFTER = re.compile(
    r"^\s*(?:is|was|are|were|has been|had been)\s+(?:not|never|rarely|seldom|ruled out|excluded|dismissed)\b"
    r"|^\s*(?:isn't|wasn't)",
    re.IGNORECASE,
)
_REJECTED_BEFORE = re.compile(
    r"\b(?:(?:call(?:ing|ed)?|label(?:ling|ing|led)?)\s+(?:this|it|that)|rul(?:e|ed|es|ing)\s+out|"
    r"exclud(?:e|ed|es|ing))\s+$",
    re.IGNORECASE,
)


def _clauses(text: str, end: int) -> list[tuple[str, int, int]]:
    """(introducing boundary, start, end) of each clause in text[:end]; the last one ends at `end`."""
    found: list[tuple[str, int, int]] = []
    intro, start = "", 0
    for match in _BOUNDARY.finditer(text, 0, end):
        found.append((intro, start, match.start()))
        intro, start = match.group().lower(), match.end()
    found.append((intro, start, end))
    return found


def _starts_with_person(
    text: str, start: int, end: int, spans: Sequence[_Span], lone_names: bool
) -> _Span | None:
    """The person at the start of text[start:end] (after a lead-in like "At 23:31,"), unless possessive."""
    lead = _LEAD_IN.match(text, start, end)
    at = lead.end() if lead else start
    at += len(text[at:end]) - len(text[at:end].lstrip())
    candidates = [s for s in spans if s.start == at and s.end <= end]
    if lone_names and not candidates:
        single = _SINGLE_NAME.match(text, at, end)
        if single and single.group().lower() not in _NOT_NAMES:
            candidates.append(_Span(single.start(), single.end()))
    for span in sorted(candidates, key=lambda s: s.end, reverse=True):
        if not re.match(r"['’]s\b", text[span.end:end]):
            return span
    return None


def _subject_is_person(text: str, at: int, spans: Sequence[_Span], lone_names: bool) -> bool:
    """Whether the subject of the verb phrase at `at` is a person (precision first: unclear means no)."""
    clauses = _clauses(text, at)
    intro, start, end = clauses[-1]
    person = _starts_with_person(text, start, end, spans, lone_names)
    if person is not None:
        return bool(_TAIL.match(text[person.end:end]))
    if intro == "who":
        # "Jonas, who didn't bother to", "the person who wrote it made a mistake": the antecedent decides.
        antecedent = next(((s, e) for _, s, e in reversed(clauses[:-1]) if text[s:e].strip()), None)
        return antecedent is not None and any(
            span.end == len(text[:antecedent[1]].rstrip()) and span.start >= antecedent[0] for span in spans)
    if text[start:end].strip() and not _ONLY_ADVERBS.fullmatch(text[start:end]):
        return False
    if intro not in ("", ",", "and", "but", "then", "so", "(", ")", "—", "–"):
        return False
    # An elided or appositive subject: "Priya restarted the pod, then forgot to ..."; skip relative clauses.
    for prev_intro, prev_start, prev_end in reversed(clauses[:-1]):
        if prev_intro in _RELATIVE or not text[prev_start:prev_end].strip():
            continue
        return _starts_with_person(text, prev_start, prev_end, spans, lone_names) is not None
    return False


def _negated(text: str, at: int) -> bool:
    """Negated or hypothetical: a negation in the same clause, or before "that" ("It wasn't that ...")."""
    clauses = _clauses(text, at)
    intro, start, _ = clauses[-1]
    if intro in ("if", "unless"):
        return True
    window = text[start:at]
    if intro == "that" and len(clauses) > 1:
        window = text[clauses[-2][1]:at]
    return bool(_NEGATION.search(window))


_CLAUSE_END = re.compile(r"[,;:.!?()—–]|\s-\s|\b(?:and|but|because|so|when|while|after|before)\b")


def _object(text: str, end: int) -> str:
    """The rest of the clause after a blame phrase, a few words at most: what was (not) done."""
    rest = _CLAUSE_END.split(text[end:], maxsplit=1)[0]
    return " ".join(rest.split()[:8])


def _suggestion(kind: str, phrase: str, what: str) -> str:
    if kind in ("forgot", "failed") and phrase.lower().endswith(" to") and what:
        return (f"Ask what made it easy to miss, and describe that: e.g. 'Nothing in the runbook or the "
                f"tooling prompted anyone to {what}'.")
    if kind == "should":
        return ("Hindsight: say what made the right move hard or non-obvious at the time, e.g. 'The runbook "
                "did not mention this step and the dashboard did not show the problem'.")
    if kind == "ignored":
        return ("Describe why the signal did not stand out: e.g. 'The alert looked like the noisy alerts "
                "seen that week and did not say what to do'.")
    if kind == "follow" and what:
        return (f"Describe why {what} was hard to follow or not enforced: e.g. 'The deploy tool did not "
                f"enforce the runbook step'.")
    return ("Describe the system, not the person: what made this easy to get wrong? e.g. 'The deploy "
            "pipeline accepted a pool size of 5 without a check'.")


def _blame(text: str, spans: Sequence[_Span]) -> str | None:
    """The suggestion for a blaming sentence, or None when the sentence does not blame a person."""
    for match in _SUBJECT_BLAME.finditer(text):
        kind = match.lastgroup or ""
        if kind == "should" and _SHOULD_NOT_BLAME.match(text[match.end():]):
            continue
        if _negated(text, match.start()):
            continue
        if _subject_is_person(text, match.start(), spans, kind in _STRONG_KINDS):
            return _suggestion(kind, match.group(), _object(text, match.end()))
    for span in spans:
        if _POSSESSIVE_BLAME.match(text[span.end:]) and not _negated(text, span.start):
            return _suggestion("noun", "", "")
        if _AGENT_BLAME.search(text[:span.start]) and not _negated(text, span.start):
            return _suggestion("noun", "", "")
        starts = _starts_with_person(text, span.start, len(text), [span], False) is not None
        if starts and _AFTER_ADVERB.match(text[span.end:]) and not _negated(text, span.start):
            return _suggestion("noun", "", "")  # "Tom carelessly deleted the volume"
    for match in _ATTRIBUTIVE_BLAME.finditer(text):
        if not _negated(text, match.start()):
            return _suggestion("noun", "", "")
    for match in _HUMAN_ERROR.finditer(text):
        rejected = _REJECTED_AFTER.match(text[match.end():]) or _REJECTED_BEFORE.search(text[:match.start()])
        if not rejected and not _negated(text, match.start()):
            return _suggestion("noun", "", "")
    return None


# ---- hedges, causal claims and evidence ---------------------------------------------------------------

_HEDGE = re.compile(
    r"\b(?:probably|maybe|perhaps|possibly|presumably|apparently|seems|seem to|"
    r"(?:we|i) (?:think|believe|suspect|guess|assume)|(?:our|my) (?:best )?(?:guess|hunch|theory)|best guess|"
    r"(?:it|this|that) appears|appears to have|not (?:sure|certain)|unclear (?:whether|if|why)|"
    r"it is possible that|could (?:well )?have been (?:caused|due|triggered|related|the|a|an)|likely)\b"
    r"|\b(?:might|may) have (?!(?:caught|prevented|helped|avoided|saved|shortened|reduced|stopped|detected|"
    r"limited|spotted|noticed|flagged|blocked|mitigated)\b)\w+",
    re.IGNORECASE,
)
# "more likely" is a likelihood, "would likely have" a counterfactual and "likely to recur" a forecast:
# none is a doubt about what happened.
_NOT_HEDGE_BEFORE = re.compile(r"\b(?:more|less|as|equally|would|could)\s+$", re.IGNORECASE)
_NOT_HEDGE_AFTER = re.compile(r"^\s+to\s+(?:recur|reoccur|happen again|repeat|return|continue)\b",
                              re.IGNORECASE)

_CAUSAL = re.compile(
    r"\b(?:caus(?:e|es|ed|ing)|because|due to|owing to|led to|leads? to|leading to|"
    r"result(?:ed|s|ing)? (?:in|from)|as a result|result of|trigger(?:ed|s|ing)?|set off|kicked off|"
    r"reason|responsible for|contribut(?:ed|es|ing)|stem(?:med|s)? from|originat(?:ed|es) (?:in|from)|"
    r"(?:came|comes?|coming) from|(?:started|began|starts|begins) (?:when|after)|"
    r"traced (?:back )?to|root cause|made\b[^.]{0,40}?\b(?:worse|slower|harder|longer|possible|impossible|"
    r"more likely|likelier|inevitable)|meant|meaning that|therefore|thus|hence|"
    r"consequently|as a consequence|allow(?:ed|s|ing)|let (?:the|it|a|an|them|this)|enabl(?:ed|es|ing)|"
    r"prevent(?:ed|s|ing)|kept\b[^.]{0,30}?\bfrom|block(?:ed|s|ing)|broke|exhaust(?:ed|s|ing)|"
    r"amplif(?:ied|ies|y)|saturat(?:ed|es|ing)|overload(?:ed|s|ing)?|starv(?:ed|es|ing)|drove|"
    r"introduc(?:ed|es|ing)|(?:take|takes|taking|took|bring|brings|bringing|brought) down|"
    r"(?:(?:doubl|tripl|quadrupl)(?:ed|es|ing)|slow(?:ed|s|ing)(?: down)?)\s+"
    r"(?:the|every|all|each|its|our|their)\b|forc(?:ed|es|ing)|"
    r"made\s+(?:[\w'-]+\s+){1,4}?(?:fail|crash|time out|hang|stall|break|drop|retry|restart|miss|exceed)|"
    r"kept\b[^.]{0,30}?\b(?:pinned|stuck|waiting|retrying|busy)|"
    r"knocked (?:out|over))\b|[,;] so\b",
    re.IGNORECASE,
)
_PLAN = re.compile(r"^\s*(?:we will|we'll|we are going to|we plan|we need to|going forward|to prevent|see )",
                   re.IGNORECASE)
_ARTIFACTS = (r"(?:graphs?|dashboards?|logs?|traces?|panels?|screenshots?|charts?|metrics|profiles?|"
              r"heap dumps?|packet captures?|pcaps?|query plans?|audit logs?|events? log|diffs?)\b")
_EVIDENCE = (
    re.compile(r"https?://\S+|\bwww\.\S+|\]\([^)]+\)"),
    re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?::\d{2})?(?![\d:])"),
    re.compile(r"\bsee (?:the )?timeline\b|\btimeline (?:entry|row|at)\b|\(timeline\b", re.IGNORECASE),
    TICKET_KEY,
    re.compile(r"\b(?:PR|MR|pull request|merge request)\s*[#!]?\d+\b", re.IGNORECASE),
    re.compile(r"\b(?:commit|sha|revision|rev)\s+`?[0-9a-f]{7,40}\b|`[0-9a-f]{7,40}`", re.IGNORECASE),
    # Stores that give plain text keep a link's label but not its URL, so a named artifact cited counts.
    re.compile(
        rf"\b(?:see|per|according to|as (?:shown|seen) (?:in|on|by)|shown (?:in|on|by))\s+"
        rf"(?:the\s+|our\s+)?(?:[\w-]+\s+){{0,3}}{_ARTIFACTS}"
        rf"|\b(?:the|our)\s+(?:[\w-]+\s+){{0,3}}{_ARTIFACTS}\s+"
        r"(?:shows?|showed|confirms?|confirmed|indicates?)\b"
        rf"|\((?:[\w-]+\s+){{0,4}}{_ARTIFACTS}\)",
        re.IGNORECASE,
    ),
)


def _hedged(text: str) -> bool:
    for match in _HEDGE.finditer(text):
        if match.group().lower() == "likely" and (
                _NOT_HEDGE_BEFORE.search(text[:match.start()]) or _NOT_HEDGE_AFTER.match(text[match.end():])):
            continue
        return True
    return False


def _claim(text: str) -> bool:
    """A declarative sentence that states a cause (questions, lead-ins and plans do not)."""
    stripped = text.strip()
    if stripped.endswith(("?", ":")) or len(stripped.split()) < 4 or _PLAN.match(stripped):
        return False
    return bool(_CAUSAL.search(stripped))


def _has_evidence(raw: str) -> bool:
    """A link, a timeline time or reference, a ticket key, or a PR/commit reference."""
    return any(pattern.search(raw) for pattern in _EVIDENCE)


# ---- document structure -------------------------------------------------------------------------------

_CAUSAL_HEADINGS = ("root cause", "contributing factor", "trigger", "latent", "underlying condition")


def _causal_sections(doc: Document) -> set[int]:
    """Indexes of Root cause (with every sub-section), Trigger, Latent conditions and Contributing factors."""
    found: set[int] = set()
    parent_level: int | None = None
    for index, section in enumerate(doc.sections):
        if parent_level is not None and section.level > parent_level:
            found.add(index)
            continue
        parent_level = None
        if _heading(section.heading).startswith(_CAUSAL_HEADINGS):
            found.add(index)
            parent_level = section.level
    return found


def _root_cause(doc: Document) -> tuple[Section | None, list[Section]]:
    for index, section in enumerate(doc.sections):
        if _heading(section.heading).startswith("root cause"):
            subs = []
            for sub in doc.sections[index + 1:]:
                if sub.level <= section.level:
                    break
                subs.append(sub)
            return section, subs
    return None, []


_EMPTY_ANSWERS = frozenset({"", "n a", "na", "none", "none identified", "nothing", "nothing identified",
                            "not applicable", "tbd", "tbc", "todo", "same as above", "see above",
                            "see trigger", "see latent conditions", "see root cause"})
_STOPWORDS = frozenset({
    "the", "a", "an", "of", "to", "and", "in", "on", "at", "by", "for", "was", "were", "is", "are", "it",
    "this", "that", "with", "from", "as", "be", "been"
})


def _answer(text: str) -> str:
    lines = [ln for ln in _body_lines(text) if not PROMPT.search(ln)]
    return _plain(" ".join(_paragraphs(lines)))


def _same(a: str, b: str) -> bool:
    """Mostly the same content words; words sharing a 4-letter stem count as one ("cert", "certificate")."""
    words_a = {w for w in normalise_words(a).split() if w not in _STOPWORDS}
    words_b = {w for w in normalise_words(b).split() if w not in _STOPWORDS}
    if not words_a or not words_b:
        return False
    shared = sum(1 for w in words_a if any(_stem_match(w, v) for v in words_b))
    return shared / (len(words_a) + len(words_b) - shared) >= 0.75


def _stem_match(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 4 and (a.startswith(b) or b.startswith(a)))


_INLINE_PART = re.compile(r"^(trigger|latent conditions?|underlying conditions?)\s*[:\-–—]\s*(.*)$",
                          re.IGNORECASE | re.DOTALL)


def _parts(doc: Document) -> tuple[str, dict[str, tuple[str, str]]] | None:
    """Trigger and Latent conditions as (heading, text): sub-sections of Root cause, else sections anywhere,
    else labelled paragraphs ("Trigger: ...") in the Root cause body. None without any root cause at all."""
    root, subs = _root_cause(doc)
    scope = subs if root is not None else list(doc.sections)
    parts: dict[str, tuple[str, str]] = {}
    for section in scope:
        heading = _heading(section.heading)
        label = "Trigger" if "trigger" in heading else (
            "Latent conditions" if heading.startswith(("latent", "underlying condition")) else None)
        if label is not None and label not in parts:
            parts[label] = (section.heading, section.text)
    if root is not None:
        for paragraph in _paragraphs(list(_body_lines(root.text))):
            match = _INLINE_PART.match(_plain(paragraph))
            if match:
                label = "Trigger" if match.group(1).lower() == "trigger" else "Latent conditions"
                parts.setdefault(label, (root.heading, match.group(2)))
    if root is None and not parts:
        return None
    return (root.heading if root is not None else "Root cause"), parts


def _trigger_latent(doc: Document) -> list[Finding]:
    found = _parts(doc)
    if found is None:
        return [Finding("trigger-latent", "Root cause", "(no Root cause section)",
                        "Without a root-cause analysis the postmortem does not say why this happened or what "
                        "will stop it happening again.", SUGGEST_TRIGGER_LATENT)]
    where, parts = found
    findings: list[Finding] = []
    answers: dict[str, str] = {}
    for label in ("Trigger", "Latent conditions"):
        if label not in parts:
            findings.append(Finding(
                "trigger-latent", where, f"(no {label} sub-section)",
                f"The root cause has no {label} part: a trigger alone blames the last change, latent "
                "conditions alone miss what set it off.", SUGGEST_TRIGGER_LATENT))
            continue
        heading, text = parts[label]
        answer = _answer(text)
        if normalise_words(answer) in _EMPTY_ANSWERS:
            first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
            quote = _prompts(first)[0] if PROMPT.search(first) else _trim(first)
            findings.append(Finding("trigger-latent", heading, quote or f"(empty {label})",
                                    f"{label} is empty, so the root cause is only half explained.",
                                    SUGGEST_TRIGGER_LATENT))
        else:
            answers[label] = answer
    if len(answers) == 2 and _same(answers["Trigger"], answers["Latent conditions"]):
        latent = answers["Latent conditions"]
        findings.append(Finding(
            "trigger-latent", parts["Latent conditions"][0], _trim(sentences(latent)[0]),
            "Trigger and Latent conditions say the same thing: the conditions that let the trigger do harm "
            "are still missing.", SUGGEST_TRIGGER_LATENT))
    return findings


def _action_items(doc: Document, rules: CheckRules, parser: DateParser) -> list[Finding]:
    try:
        table, mapping = find_action_table(doc)
    except DocumentError as err:
        return [Finding("action-item", "Action items", "(no action-item table)", str(err),
                        "Add an '## Action items' table: Action | Type | Owner | Due | Priority | Done when "
                        "| Ticket.")]
    items = read_items(table, mapping, parser)
    where = table.heading or "Action items"
    if not items:
        return [Finding("action-item", where, "(no action items)",
                        "The action-item table has no rows, so nothing will change after this incident.",
                        "Add one row per action, each with an owner, a due date and a check that shows "
                        "it is done.")]
    findings = []
    for item in items:
        checked = check_item(item, rules)
        if checked.verdict == "invalid":
            findings.append(Finding("action-item", where, item.action or f"(row {item.row + 1}: no action)",
                                    "; ".join(checked.problems)))
    return findings


def _is_timeline(table: Table) -> bool:
    """Generated evidence (timeline, key metrics) quotes people verbatim: not ours to rewrite."""
    return _heading(table.heading or "").startswith(("timeline", "key metric")) or any(
        _heading(h).startswith("time") for h in table.header)


# ---- the lint -----------------------------------------------------------------------------------------


def _lint_text(heading: str, text: str, known: re.Pattern[str] | None, causal: bool) -> list[Finding]:
    findings: list[Finding] = []
    prose: list[str] = []
    for line in _body_lines(text):
        if PROMPT.search(line):
            findings += [Finding("unanswered-prompt", heading, p, WHY_PROMPT, SUGGEST_PROMPT)
                         for p in _prompts(line)]
        else:
            prose.append(line)
    for paragraph in _paragraphs(prose):
        for raw in sentences(paragraph):
            plain = _plain(raw)
            quote = _trim(raw)
            suggestion = _blame(plain, _person_spans(plain, known))
            if suggestion is not None:
                findings.append(Finding("blame", heading, quote, WHY_BLAME, suggestion))
            if not causal or plain.rstrip().endswith("?"):
                continue
            if _hedged(plain):
                findings.append(Finding("hedge", heading, quote, WHY_HEDGE, SUGGEST_HEDGE))
            if _claim(plain) and not _has_evidence(raw):
                findings.append(
                    Finding("unsupported-claim", heading, quote, WHY_UNSUPPORTED, SUGGEST_UNSUPPORTED))
    return findings


def _lint_table(table: Table, known: re.Pattern[str] | None) -> list[Finding]:
    heading = table.heading or "(table)"
    findings: list[Finding] = []
    for row in table.rows:
        for cell in row:
            for line in cell.text.splitlines():
                findings += [Finding("unanswered-prompt", heading, p, WHY_PROMPT, SUGGEST_PROMPT)
                             for p in _prompts(line)]
            if _is_timeline(table) or PROMPT.search(cell.text):
                continue
            for raw in sentences(" ".join(cell.text.split())):
                suggestion = _blame(_plain(raw), _person_spans(_plain(raw), known))
                if suggestion is not None:
                    findings.append(Finding("blame", heading, _trim(raw), WHY_BLAME, suggestion))
    return findings


def lint_document(
    doc: Document,
    *,
    people: Sequence[str] = (),
    rules: CheckRules | None = None,
    date_parser: DateParser | None = None,
) -> list[Finding]:
    """Every finding in document order. `people`: reviewers, owners, responders and directory names."""
    known = _people_pattern(people)
    causal = _causal_sections(doc)
    root, _ = _root_cause(doc)
    by_section: list[list[Finding]] = [
        _lint_text(s.heading, s.text, known, i in causal) for i, s in enumerate(doc.sections)
    ]
    tail: list[Finding] = []
    placed = {_heading(s.heading): i for i, s in reversed(list(enumerate(doc.sections)))}
    for table in doc.tables:
        target = placed.get(_heading(table.heading or ""))
        (by_section[target] if target is not None else tail).extend(_lint_table(table, known))
    structural = _trigger_latent(doc)
    if root is not None:
        by_section[doc.sections.index(root)].extend(structural)
    else:
        tail.extend(structural)
    actions = _action_items(doc, rules or CheckRules(), date_parser or DateParser())
    action_at = placed.get(_heading(actions[0].section)) if actions else None
    (by_section[action_at] if action_at is not None else tail).extend(actions)
    findings: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    for finding in [f for group in by_section for f in group] + tail:
        key = (finding.rule, finding.section, finding.quote)
        if key not in seen:
            seen.add(key)
            findings.append(finding)
    return findings


def findings_json(findings: Sequence[Finding]) -> dict[str, Any]:
    """The `--json` document: {"findings": [...], "count": n}."""
    return {"findings": [asdict(f) for f in findings], "count": len(findings)}
