"""What the CLI prints: the JSON contracts and the terminal tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ops_postmortem.model import KeyMoments, Moment, Ticket, Timeline, TimelineEvent, iso_z

if TYPE_CHECKING:
    from ops_postmortem.lint import Finding
    from ops_postmortem.workflows.extract import ExtractResult
    from ops_postmortem.workflows.review import ReviewResult
    from ops_postmortem.workflows.sync import SyncReport

MOMENT_NAMES = ("impact_started", "detected", "acknowledged", "mitigated", "resolved")
DURATION_NAMES = ("time_to_acknowledge", "time_to_mitigate", "time_to_resolve")


def event_text(event: TimelineEvent) -> str:
    return event.text if event.count == 1 else f"{event.text} (x{event.count})"


def moments_json(moments: KeyMoments) -> dict[str, str | None]:
    return {name: iso_z(m.at) if (m := getattr(moments, name)) else None for name in MOMENT_NAMES}


def durations_json(moments: KeyMoments) -> dict[str, int | None]:
    return {name: getattr(moments, name) for name in DURATION_NAMES}


def timeline_json(timeline: Timeline) -> dict[str, Any]:
    """Exactly {"events": [{at, source, kind, actor, text, link}], "moments": {...}, "durations": {...}}."""
    return {
        "events": [
            {
                "at": iso_z(e.at),
                "source": e.source,
                "kind": e.kind,
                "actor": e.actor,
                "text": event_text(e),
                "link": e.link,
            }
            for e in timeline.events
        ],
        "moments": moments_json(timeline.moments),
        "durations": durations_json(timeline.moments),
    }


def human_duration(seconds: int | None) -> str:
    if seconds is None:
        return "unknown"
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h {minutes}m"
    return f"{sign}{minutes}m {secs}s" if minutes else f"{sign}{secs}s"


def _moment_text(moment: Moment | None) -> str:
    if moment is None:
        return "unknown"
    return f"{iso_z(moment.at)}{' (inferred)' if moment.inferred else ''}"


def _plain_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def timeline_table(timeline: Timeline, rich: bool) -> str:
    """A table for people: rich on a terminal, aligned plain text when piped."""
    rows = [
        (
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.source,
            e.kind,
            e.actor or "",
            event_text(e),
        )
        for e in timeline.events
    ]
    moments = [(name, _moment_text(getattr(timeline.moments, name))) for name in MOMENT_NAMES]
    durations = [(name, human_duration(getattr(timeline.moments, name))) for name in DURATION_NAMES]
    if rich:
        return _rich_table(rows, moments + durations)
    lines = [f"{'time (UTC)':19}  {'source':12}  {'kind':14}  {'actor':18}  text"]
    for at, source, kind, actor, text in rows:
        lines.append(f"{at:19}  {source:12.12}  {kind:14.14}  {_plain_line(actor, 18):18}  {_plain_line(text, 100)}")
    lines.append("")
    lines.extend(f"{name:20} {value}" for name, value in moments + durations)
    return "\n".join(lines)


def _rich_table(rows: list[tuple[str, str, str, str, str]], summary: list[tuple[str, str]]) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Timeline (UTC)", show_lines=False)
    for column in ("time", "source", "kind", "actor", "text"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # Text(): chat content is never parsed as rich markup
    metrics = Table(title="Key metrics")
    metrics.add_column("metric")
    metrics.add_column("value")
    for name, value in summary:
        metrics.add_row(name, value)
    console = Console(record=True)
    with console.capture() as capture:
        console.print(table)
        console.print(metrics)
    return capture.get()


# ---- review, extract, sync, lint, tickets --------------------------------------------------------


def review_text(result: ReviewResult) -> str:
    report = result.report
    lines = [f"{result.ref.url}: {'signed off' if report.signed_off else 'NOT signed off'}"]
    for s in report.reviewers:
        who = s.reviewer.name + (f" <{s.reviewer.email}>" if s.reviewer.email else "")
        if s.status == "approved":
            note = " - edited since approval" if s.edited_since else ""
            lines.append(f"  approved           {who}  {iso_z(s.at)}  \"{s.quote}\"{note}")
        elif s.status == "changes_requested":
            detail = f"threads {', '.join(s.threads)}" if s.threads else f"\"{s.quote}\""
            lines.append(f"  changes requested  {who}  {detail}")
        else:
            lines.append(f"  pending            {who}")
    if report.open_threads:
        lines.append("open threads:")
        for c in report.open_threads:
            quote = f' on "{_plain_line(c.quote, 60)}"' if c.quote else ""
            lines.append(f"  {c.id} {c.author.name}{quote}: {_plain_line(c.text, 100)}")
    if result.recorded:
        lines.append("recorded: status Final, reviewers table filled")
    return "\n".join(lines)


def extract_text(result: ExtractResult, dry_run: bool) -> str:
    lines = []
    for r in result.items:
        ticket = r.ticket.key if r.ticket else ("(would create)" if dry_run and r.verdict == "valid" else "-")
        flags = (" created" if r.created else "") + (" OVERDUE" if r.check.overdue else "")
        lines.append(f"row {r.item.row + 1:<3} {r.verdict:<8} {ticket:<14} {_plain_line(r.item.action, 70)}{flags}")
        lines.extend(f"          - {p}" for p in r.problems)
    if result.commented:
        lines.append("commented on the doc about the invalid items")
    return "\n".join(lines) or "no action items"


def sync_text(report: SyncReport) -> str:
    lines = []
    for d in report.docs:
        if d.error:
            lines.append(f"{d.ref.url}: ERROR {d.error}")
            continue
        created = sum(1 for r in d.extract.items if r.created) if d.extract else 0
        lines.append(f"{d.ref.url}: {d.done}/{d.total} done, {created} created, {d.statuses_written} statuses written")
        lines.extend(f"  overdue: {_plain_line(a, 90)}" for a in d.overdue)
    lines.append(f"{len(report.docs)} postmortem(s) synced, {report.skipped} unchanged")
    return "\n".join(lines)


def lint_text(findings: Sequence[Finding]) -> str:
    lines = []
    for f in findings:
        lines.append(f"[{f.rule}] {f.section}: \"{_plain_line(f.quote, 100)}\"")
        lines.append(f"    why: {f.why}")
        if f.suggestion:
            lines.append(f"    try: {f.suggestion}")
    lines.append(f"{len(findings)} finding(s)")
    return "\n".join(lines)


def ticket_json(t: Ticket) -> dict[str, Any]:
    return {"key": t.key, "title": t.title, "status": t.status, "owner": t.owner,
            "due": t.due.isoformat() if t.due else None, "priority": t.priority, "url": t.url,
            "doc_url": t.doc_url, "labels": list(t.labels)}


def ticket_line(t: Ticket) -> str:
    due = t.due.isoformat() if t.due else "no due date"
    return f"{t.key:<8} {t.status:<12} {t.owner or '-':<18} {due:<11} {_plain_line(t.title, 70)}"
