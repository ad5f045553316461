"""What the CLI prints: the JSON contracts and the terminal tables."""

from __future__ import annotations

from typing import Any

from ops_postmortem.model import KeyMoments, Moment, Timeline, TimelineEvent, iso_z

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
