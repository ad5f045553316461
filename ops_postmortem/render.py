"""Rendering a timeline into a postmortem document with a sandboxed Jinja2 template.

Every `{{ }}` output is escaped for the document's format by `finalize`, except `Safe` values that
our own filters built by escaping. Macros return plain strings, which would be escaped a second
time, so templates share pieces with `{% include %}` instead.

Generated blocks sit between marker comments; the start marker carries a digest of the block so
a refresh can tell whether someone edited it by hand:

    <!-- ops-postmortem:generated:start timeline sha256=0123456789abcdef -->
    ...
    <!-- ops-postmortem:generated:end timeline -->
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import BaseLoader, FileSystemLoader, PackageLoader, StrictUndefined
from jinja2.exceptions import (
    SecurityError,
    TemplateError,
    TemplateNotFound,
    TemplateRuntimeError,
    TemplateSyntaxError,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ops_postmortem import escaping
from ops_postmortem.errors import ConfigError, DocumentError
from ops_postmortem.model import UTC, EvidenceRef, Moment, Timeline, TimelineEvent


class Safe(str):
    """Markup our own filters produced by escaping; `finalize` passes it through unchanged."""

    __slots__ = ()


@dataclass(frozen=True)
class Format:
    template: str  # path under the templates folder (package data or the team's own)
    escape: Callable[[str], str]  # untrusted text for running prose
    cell: Callable[[str], str]  # untrusted text for a table cell or any one-line spot
    link: Callable[[str, str], str]  # (checked http(s) url, label) -> link markup
    comment: tuple[str, str]  # how a hidden marker is written: prefix, suffix


FORMATS: dict[str, Format] = {
    "markdown": Format(
        template="markdown/postmortem.md.j2",
        escape=escaping.escape_markdown,
        cell=escaping.cell_markdown,
        link=escaping.link_markdown,
        comment=("<!-- ", " -->"),
    ),
    # Uploaded to Drive and converted into a Google Doc (comments are dropped by the conversion).
    "html": Format(
        template="html/postmortem.html.j2",
        escape=escaping.escape_html,
        cell=escaping.cell_html,
        link=escaping.link_html,
        comment=("<!-- ", " -->"),
    ),
    # Confluence storage format (XHTML). Its editors drop XML comments, so markers are anchor macros.
    "storage": Format(
        template="storage/postmortem.xml.j2",
        escape=escaping.escape_storage,
        cell=escaping.cell_storage,
        link=escaping.link_storage,
        comment=('<p><ac:structured-macro ac:name="anchor"><ac:parameter ac:name="">',
                 "</ac:parameter></ac:structured-macro></p>"),
    ),
}

_MARKER = "ops-postmortem:generated"


def get_format(fmt: str) -> Format:
    try:
        return FORMATS[fmt]
    except KeyError:
        raise ConfigError(
            f"unknown document format {fmt!r}", hint=f"use one of: {', '.join(sorted(FORMATS))}"
        ) from None


def markup_cell(fmt: str, value: object) -> Safe:
    """A value for a table cell; None is an empty cell, Safe values are kept as they are."""
    if isinstance(value, Safe):
        return value
    return Safe(get_format(fmt).cell("" if value is None else str(value)))


def markup_link(fmt: str, url: str | None, label: str) -> Safe:
    """A link when `url` is http(s); otherwise the label, and the URL beside it as plain text."""
    spec = get_format(fmt)
    if url is not None and escaping.web_url(url):
        return Safe(spec.link(url, label))
    if not url:
        return Safe(spec.cell(label))
    return Safe(spec.cell(f"{label} ({url})" if label else url))


# ---- filters -----------------------------------------------------------------------------------


def _as_utc(value: object, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TemplateRuntimeError(f"the {name} filter needs an aware datetime, got {value!r}")
    return value.astimezone(UTC)


def format_dt(value: object) -> Safe:
    at = _as_utc(value, "dt")
    return Safe("unknown" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC"))


def format_date(value: object) -> Safe:
    at = _as_utc(value, "date")
    return Safe("unknown" if at is None else at.strftime("%Y-%m-%d"))


def format_time(value: object) -> Safe:
    at = _as_utc(value, "time")
    return Safe("unknown" if at is None else at.strftime("%H:%M:%S"))


def format_duration(value: object) -> Safe:
    """Seconds as '45s', '4m 15s', '1h 2m', '2d 3h'; None is 'unknown' (never guessed)."""
    if value is None:
        return Safe("unknown")
    if not isinstance(value, int | float):
        raise TemplateRuntimeError(f"the duration filter needs seconds, got {value!r}")
    sign = "-" if value < 0 else ""
    days, rest = divmod(int(abs(value)), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    first = next((i for i, (amount, _) in enumerate(units) if amount), len(units) - 1)
    shown = [f"{amount}{unit}" for amount, unit in units[first : first + 2] if amount]
    return Safe(sign + (" ".join(shown) or "0s"))


# What an evidence link opens, by source; raw ids (Slack ts, fingerprints) mean nothing to a reader.
EVIDENCE_LABELS = {
    "slack": "message",
    "pagerduty": "log entry",
    "opsgenie": "alert log",
    "alertmanager": "graph",
    "grafana": "panel",
}


def _evidence_ref(value: object) -> EvidenceRef | None:
    if isinstance(value, EvidenceRef) or value is None:
        return value
    if isinstance(value, Moment):
        return value.evidence
    if isinstance(value, TimelineEvent):
        return value.evidence
    raise TemplateRuntimeError(
        f"the evidence filter needs an event, a moment or an evidence ref, got {value!r}"
    )


def _filters(fmt: str) -> dict[str, Callable[..., Safe]]:
    def cell(value: object) -> Safe:
        return markup_cell(fmt, value)

    def link(url: str | None, label: object) -> Safe:
        return markup_link(fmt, url, str(label))

    def evidence(value: object) -> Safe:
        ref = _evidence_ref(value)
        if ref is None:
            return Safe("")
        label = EVIDENCE_LABELS.get(ref.source) if ref.url else None
        return markup_link(fmt, ref.url, label or ref.ident or ref.source)

    return {
        "cell": cell,
        "link": link,
        "evidence": evidence,
        "dt": format_dt,
        "date": format_date,
        "time": format_time,
        "duration": format_duration,
    }


# ---- environment and rendering -----------------------------------------------------------------


@lru_cache(maxsize=16)
def _environment(fmt: str, template_dir: Path | None) -> ImmutableSandboxedEnvironment:
    spec = get_format(fmt)
    loader: BaseLoader
    if template_dir is None:
        loader = PackageLoader("ops_postmortem", "templates")
    else:
        loader = FileSystemLoader(str(template_dir))

    def finalize(value: object) -> str:
        return value if isinstance(value, Safe) else spec.escape(str(value))

    env = ImmutableSandboxedEnvironment(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=False,
        finalize=finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(_filters(fmt))
    return env


def render_document(
    fmt: str,
    timeline: Timeline,
    *,
    template_dir: Path | None = None,
    generated_at: datetime | None = None,
    extra: Mapping[str, object] | None = None,
) -> str:
    """The whole document for `timeline`, its generated blocks sealed with their digests."""
    spec = get_format(fmt)
    if template_dir is None:
        where = f"built-in template {spec.template}"
    else:
        path = template_dir / spec.template
        where = str(path)
        if not path.is_file():
            raise ConfigError(
                f"{path}: template not found",
                hint=f"copy the built-in templates/{spec.template.split('/')[0]}/ folder there, "
                "or drop [templates] dir to use the default",
            )
    context: dict[str, object] = {
        "timeline": timeline,
        "incident": timeline.incident,
        "events": timeline.events,
        "moments": timeline.moments,
        "missing": timeline.missing,
        "generated_at": generated_at or datetime.now(UTC),
        "redaction_summary": dict(sorted(Counter(r.detector for r in timeline.redactions).items())),
        **(extra or {}),
    }
    try:
        text = _environment(fmt, template_dir).get_template(spec.template).render(context)
    except SecurityError as exc:
        raise ConfigError(
            f"{where}: the template tried an unsafe operation ({exc})",
            hint="templates may only read the incident data they are given",
        ) from exc
    except TemplateSyntaxError as exc:
        raise ConfigError(
            f"{exc.filename or where}:{exc.lineno}: {exc.message}", hint="fix the template"
        ) from exc
    except TemplateNotFound as exc:
        raise ConfigError(
            f"{where}: included template {exc.name!r} not found", hint="add it beside the template"
        ) from exc
    except TemplateError as exc:
        raise ConfigError(f"{where}: {exc.message}", hint="fix the template") from exc
    try:
        return _seal(fmt, text)
    except DocumentError as exc:
        raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from exc


# ---- generated blocks --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    name: str
    start: int  # where the start marker begins
    content_start: int
    content_end: int
    end: int  # just past the end marker
    digest: str | None


@lru_cache(maxsize=16)
def _marker_patterns(fmt: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    prefix, suffix = (re.escape(part) for part in get_format(fmt).comment)
    start = re.compile(rf"{prefix}{_MARKER}:start (?P<name>[\w-]+)(?: sha256=(?P<digest>[0-9a-f]+))?{suffix}")
    end = re.compile(rf"{prefix}{_MARKER}:end (?P<name>[\w-]+){suffix}")
    return start, end


def _marker_error(fmt: str, name: str, problem: str) -> DocumentError:
    prefix, suffix = get_format(fmt).comment
    return DocumentError(
        f"the generated section '{name}' {problem}",
        hint=f"put the lines '{prefix}{_MARKER}:start {name}{suffix}' and '{prefix}{_MARKER}:end {name}{suffix}' "
        "back around that section (what is between them is regenerated)",
    )


def _blocks(fmt: str, text: str) -> dict[str, _Block]:
    start_re, end_re = _marker_patterns(fmt)
    ends: dict[str, re.Match[str]] = {}
    for end in end_re.finditer(text):
        if end.group("name") in ends:
            raise _marker_error(fmt, end.group("name"), "is marked twice")
        ends[end.group("name")] = end
    blocks: dict[str, _Block] = {}
    previous_end = 0
    for start in start_re.finditer(text):
        name = start.group("name")
        if name in blocks:
            raise _marker_error(fmt, name, "is marked twice")
        match = ends.pop(name, None)
        if match is None or match.start() < start.end():
            raise _marker_error(fmt, name, "has lost its end marker")
        if start.start() < previous_end:
            raise _marker_error(fmt, name, "overlaps another one")
        blocks[name] = _Block(
            name, start.start(), start.end(), match.start(), match.end(), start.group("digest")
        )
        previous_end = match.end()
    if ends:
        name = next(iter(ends))
        raise _marker_error(fmt, name, "has lost its start marker")
    return blocks


def _digest(content: str) -> str:
    # Editors may change line endings or trailing blanks; that is not an edit of the facts.
    lines = [line.rstrip() for line in content.replace("\r\n", "\n").split("\n")]
    return hashlib.sha256("\n".join(lines).strip("\n").encode("utf-8")).hexdigest()[:16]


def _seal(fmt: str, text: str) -> str:
    prefix, suffix = get_format(fmt).comment
    for block in sorted(_blocks(fmt, text).values(), key=lambda b: b.start, reverse=True):
        content = text[block.content_start : block.content_end]
        marker = f"{prefix}{_MARKER}:start {block.name} sha256={_digest(content)}{suffix}"
        text = text[: block.start] + marker + text[block.content_start :]
    return text


def generated_blocks(fmt: str, text: str) -> dict[str, str]:
    """Name -> content between the markers of each generated block."""
    return {name: text[b.content_start : b.content_end] for name, b in _blocks(fmt, text).items()}


def edited_blocks(fmt: str, text: str) -> list[str]:
    """Names of the generated blocks whose content no longer matches the digest in their marker."""
    return [
        name
        for name, b in _blocks(fmt, text).items()
        if b.digest is not None and b.digest != _digest(text[b.content_start : b.content_end])
    ]


def replace_generated(fmt: str, current: str, fresh: str) -> str:
    """`current` with each generated block (markers included) taken from `fresh`; the rest kept byte for byte."""
    have = _blocks(fmt, current)
    new = _blocks(fmt, fresh)
    for name in new:
        if name not in have:
            raise _marker_error(fmt, name, "has lost its markers")
    crlf = "\r\n" in current  # keep a doc saved with Windows line endings consistent
    for block in sorted((have[name] for name in new), key=lambda b: b.start, reverse=True):
        replacement = fresh[new[block.name].start : new[block.name].end]
        if crlf:
            replacement = replacement.replace("\r\n", "\n").replace("\n", "\r\n")
        current = current[: block.start] + replacement + current[block.end :]
    return current
