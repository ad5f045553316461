"""The `postmortem` command: parse arguments, call a workflow, print, map errors to exit codes.

Exit codes: 0 done; 1 runtime or service failure; 2 usage or config error; 3 a check did not pass.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ops_postmortem import __version__
from ops_postmortem.config import Config, load_config
from ops_postmortem.errors import PostmortemError, UsageError

Handler = Callable[[argparse.Namespace, Config], int]


def _time_arg(text: str) -> datetime:
    from ops_postmortem.timeutil import parse_time

    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _add_sources(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("evidence files (each flag repeatable; PATH is a file or a directory)")
    g.add_argument("--pagerduty", action="append", type=Path, default=[], metavar="PATH",
                   help="PagerDuty REST v2 incident and log_entries responses, v3 webhook payloads")
    g.add_argument("--opsgenie", action="append", type=Path, default=[], metavar="PATH",
                   help="Opsgenie v2 alert, alert log pages and note pages")
    g.add_argument("--alertmanager", action="append", type=Path, default=[], metavar="PATH",
                   help="Alertmanager webhook payloads (version 4)")
    g.add_argument("--grafana", action="append", type=Path, default=[], metavar="PATH",
                   help="Grafana alerting webhook payloads")
    g.add_argument("--slack-export", action="append", type=Path, default=[], metavar="PATH",
                   help="a Slack workspace export (ZIP or unpacked folder)")
    g.add_argument("--slack-channel", metavar="NAME", help="the incident channel inside the Slack export")
    g.add_argument("--slack-workspace-url", metavar="URL",
                   help="e.g. https://acme.slack.com, for message permalinks (or [slack] workspace_url)")
    g.add_argument("--events", action="append", type=Path, default=[], metavar="PATH",
                   help="hand-written events, CSV or JSON: time, kind, actor, text, link")
    t = p.add_argument_group("timeline")
    t.add_argument("--impact-started", type=_time_arg, metavar="TIME",
                   help="when impact began (ISO-8601 with zone), if no events row says so")
    t.add_argument("--since", type=_time_arg, metavar="TIME", help="drop events before TIME")
    t.add_argument("--until", type=_time_arg, metavar="TIME", help="drop events after TIME")
    t.add_argument("--timezone", metavar="ZONE",
                   help="zone for hand-written times that carry none, e.g. Europe/Berlin ([timeline] timezone)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postmortem",
        description="Turn the evidence of an incident into a blameless postmortem, review it, track its actions.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default ./postmortem.toml, else $POSTMORTEM_CONFIG)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("timeline", help="show the merged timeline and key metrics of an incident",
                       description="Merge the evidence into one ordered UTC timeline and derive the key moments.")
    p.add_argument("incident_id", metavar="INCIDENT_ID")
    _add_sources(p)
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=cmd_timeline)

    p = sub.add_parser("open", help="open (create or find) the prefilled postmortem for an incident",
                       description="Create the prefilled postmortem, or find the one already opened.")
    p.add_argument("incident_id", metavar="INCIDENT_ID")
    _add_sources(p)
    p.add_argument("--title", help="postmortem title (default: the paging incident's title)")
    p.add_argument("--severity", help="SEV1, SEV2, SEV3 ...")
    p.add_argument("--author", action="append", default=[], metavar="NAME", help="an author (repeatable)")
    p.add_argument("--reviewer", action="append", default=[], metavar="NAME_OR_EMAIL",
                   help="a required reviewer (repeatable)")
    p.add_argument("--store", choices=("local", "google", "confluence"), help="override [store] kind")
    p.add_argument("--refresh", action="store_true",
                   help="regenerate the timeline and metrics of an existing doc, keeping human edits")
    p.add_argument("--force", action="store_true", help="with --refresh, overwrite hand edits to generated sections")
    p.add_argument("--json", action="store_true", help='print {"url", "created"}')
    p.set_defaults(handler=cmd_open)
    return parser


# ---- commands ---------------------------------------------------------------------------------


def _collect(args: argparse.Namespace, config: Config, **options: Any) -> Any:
    from ops_postmortem.model import Person
    from ops_postmortem.wiring import FileInputs, file_sources, split_people
    from ops_postmortem.workflows.collect import CollectOptions, collect_timeline

    settings = config.timeline
    inputs = FileInputs(
        pagerduty=tuple(args.pagerduty),
        opsgenie=tuple(args.opsgenie),
        alertmanager=tuple(args.alertmanager),
        grafana=tuple(args.grafana),
        events=tuple(args.events),
        slack_export=tuple(args.slack_export),
        slack_channel=args.slack_channel,
        slack_workspace_url=args.slack_workspace_url or config.section("slack").string("workspace_url"),
        timezone=args.timezone or settings.timezone,
    )
    if inputs.empty:
        raise UsageError("no evidence given", hint="name at least one of --pagerduty, --opsgenie, --alertmanager, "
                         "--grafana, --slack-export, --events")
    sources, chats = file_sources(inputs)
    collect_options = CollectOptions(
        impact_started=args.impact_started,
        since=args.since,
        until=args.until,
        title=options.get("title"),
        severity=options.get("severity"),
        authors=tuple(Person(n) for n in split_people(options.get("authors", []))),
        reviewers=tuple(Person(n) for n in split_people(options.get("reviewers", []))),
    )
    timeline = collect_timeline(args.incident_id, sources, chats, settings, collect_options)
    for warning in timeline.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if timeline.redactions:
        from collections import Counter

        counts = Counter(f"{r.source} ({r.detector})" for r in timeline.redactions)
        where = ", ".join(f"{n} in {k}" for k, n in sorted(counts.items()))
        print(f"redacted {len(timeline.redactions)} secret(s): {where}", file=sys.stderr)
    return timeline


def cmd_timeline(args: argparse.Namespace, config: Config) -> int:
    from ops_postmortem.output import timeline_json, timeline_table

    timeline = _collect(args, config)
    if args.json:
        print(json.dumps(timeline_json(timeline), ensure_ascii=False))
    else:
        print(timeline_table(timeline, sys.stdout.isatty()))
    return 0


def cmd_open(args: argparse.Namespace, config: Config) -> int:
    from ops_postmortem.wiring import document_store
    from ops_postmortem.workflows.open import open_postmortem

    store = document_store(config, args.store)
    timeline = _collect(args, config, title=args.title, severity=args.severity, authors=args.author,
                        reviewers=args.reviewer)
    result = open_postmortem(store, timeline, refresh=args.refresh, force=args.force)
    if args.json:
        print(json.dumps({"url": result.ref.url, "created": result.created}))
    elif result.created:
        print(f"created {result.ref.url}")
    elif args.refresh:
        print(f"{'refreshed' if result.refreshed else 'unchanged'} {result.ref.url}")
    else:
        print(f"exists {result.ref.url} (use --refresh to regenerate the timeline and metrics)")
    return 0


# ---- entry point ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        handler: Handler = args.handler
        return handler(args, config)
    except PostmortemError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, the traceback only on request
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        return 1
