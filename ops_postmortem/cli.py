"""The `postmortem` command: parse arguments, call a workflow, print, map errors to exit codes.

Exit codes: 0 done; 1 runtime or service failure; 2 usage or config error; 3 a check did not pass.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

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


def _date_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-27") from exc


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document")


def _as_of_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as-of", type=_date_arg, metavar="DATE", help="the day due dates are judged against (default today)")


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
    live = p.add_argument_group("live sources (the [pagerduty], [opsgenie], [alertmanager], [grafana] and [slack] "
                                "sections of the config)")
    live.add_argument("--pagerduty-incident", metavar="ID_OR_NUMBER",
                      help="the PagerDuty incident, when INCIDENT_ID is your own id (default: INCIDENT_ID as an "
                           "id, number or incident key)")
    live.add_argument("--opsgenie-alert", metavar="ID_TINY_OR_ALIAS",
                      help="the Opsgenie alert, when INCIDENT_ID is not its id, tiny id or alias")
    live.add_argument("--offline", action="store_true", help="read only the evidence files, not the live sources")
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
    _json_flag(p)
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
    p.add_argument("--archive", action=argparse.BooleanOptionalAction, default=True,
                   help="keep the raw responses of the live sources, redacted, with the postmortem (default on)")
    p.add_argument("--json", action="store_true", help='print {"url", "created"}')
    p.set_defaults(handler=cmd_open)

    p = sub.add_parser("comment", help="comment on a postmortem, reply, resolve or reopen a thread",
                       description="Manage review comments on a doc (the local store keeps them beside the doc).")
    p.add_argument("doc", metavar="DOC", help="the doc: a path, URL, id, or an incident id")
    p.add_argument("text", nargs="?", default="", metavar="TEXT", help="the comment or reply text")
    p.add_argument("--author", help='who is writing: "Name", "email" or "Name <email>"')
    p.add_argument("--quote", metavar="TEXT", help="the passage of the doc the comment is about")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--reply", metavar="ID", help="reply to comment ID")
    action.add_argument("--resolve", metavar="ID", help="resolve thread ID (with an optional TEXT)")
    action.add_argument("--reopen", metavar="ID", help="reopen thread ID (with an optional TEXT)")
    action.add_argument("--list", action="store_true", help="list the comment threads")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=cmd_comment)

    p = sub.add_parser("review", help="check sign-off: who approved, who asked for changes, what is open",
                       description="Exit 0 when every required reviewer approved and no correction is open, else 3.")
    p.add_argument("doc", metavar="DOC")
    p.add_argument("--reviewer", action="append", default=[], metavar="NAME_OR_EMAIL",
                   help="a required reviewer (repeatable), in addition to config and the doc's table")
    p.add_argument("--record", action="store_true", help="once signed off, mark the doc Final and fill its table")
    _json_flag(p)
    p.set_defaults(handler=cmd_review)

    p = sub.add_parser("extract", help="turn the action-item table into tickets and write their keys back",
                       description="Check every action item; ticket the valid ones; exit 3 if any is invalid.")
    p.add_argument("doc", metavar="DOC")
    _as_of_flag(p)
    p.add_argument("--dry-run", action="store_true", help="check and report, create and write nothing")
    _json_flag(p)
    p.set_defaults(handler=cmd_extract)

    p = sub.add_parser("sync", help="extract from changed postmortems and write ticket statuses back (for cron)",
                       description="Safe to run every few minutes: a lock stops overlapping runs.")
    _as_of_flag(p)
    _json_flag(p)
    p.set_defaults(handler=cmd_sync)

    p = sub.add_parser("publish", help="share a signed-off postmortem's summary in the [slack] publish_channels",
                       description="Post the summary (impact, key metrics, trigger, latent conditions, action items, "
                                   "link) once per channel; refuses with exit 3 before sign-off.")
    p.add_argument("doc", metavar="DOC")
    p.add_argument("--dry-run", action="store_true", help="print the Block Kit message as JSON, post nothing")
    _json_flag(p)
    p.set_defaults(handler=cmd_publish)

    p = sub.add_parser("remind", help="list overdue and soon-due action items; chase their owners on Slack",
                       description="Across every postmortem: items overdue or due within [slack] remind_days and "
                                   "not done; one digest per [slack] remind_channels and/or a message to each owner, "
                                   "never twice a day per item.")
    _as_of_flag(p)
    p.add_argument("--dry-run", action="store_true", help="list and say what would be posted, post nothing")
    _json_flag(p)
    p.set_defaults(handler=cmd_remind)

    p = sub.add_parser("lint", help="find blame, unsupported claims, open prompts and weak action items",
                       description="Blameless, evidence-based writing checks; exit 3 when anything is found.")
    p.add_argument("doc", metavar="DOC")
    _as_of_flag(p)
    _json_flag(p)
    p.set_defaults(handler=cmd_lint)

    p = sub.add_parser("auth", help="authorize ops-postmortem with your Google account (writes a credentials file)",
                       description="Run Google's OAuth consent flow for an installed app and write an "
                       "authorized-user file for [google] credentials_file.")
    services = p.add_subparsers(dest="auth_service", metavar="SERVICE", required=True)
    a = services.add_parser("google", help="Google Docs and Drive",
                            description="Consent in a browser; the refresh token is written (mode 0600) to --output.")
    a.add_argument("--client-secrets", type=Path, required=True, metavar="PATH",
                   help="the JSON of a 'Desktop app' OAuth client from the Google Cloud console")
    a.add_argument("--output", type=Path, metavar="PATH",
                   help="where to write the authorized-user file (default: [google] credentials_file)")
    a.add_argument("--no-browser", action="store_true",
                   help="print the consent URL and read back the address it redirects to (over SSH)")
    p.set_defaults(handler=cmd_auth)

    p = sub.add_parser("tickets", help="the local tracker: list, show or close tickets",
                       description="Tickets in the embedded local tracker (<local dir>/tickets.db).")
    tickets = p.add_subparsers(dest="tickets_command", metavar="ACTION", required=True)
    t = tickets.add_parser("list", help="list tickets", description="List tickets, newest last.")
    t.add_argument("--status", help="only tickets with this status (Open, In Progress, Done, Won't Do)")
    t.add_argument("--incident", help="only tickets of this incident")
    _json_flag(t)
    t = tickets.add_parser("show", help="show one ticket", description="Show one ticket with its description.")
    t.add_argument("key", metavar="KEY")
    _json_flag(t)
    t = tickets.add_parser("close", help="close a ticket", description="Set a ticket's status (default Done).")
    t.add_argument("key", metavar="KEY")
    t.add_argument("--status", default="Done", help="the closing status (default Done; or \"Won't Do\")")
    p.set_defaults(handler=cmd_tickets)
    return parser


# ---- commands ---------------------------------------------------------------------------------


def _collect(args: argparse.Namespace, config: Config, **options: Any) -> Any:
    from ops_postmortem.people import person_from_text
    from ops_postmortem.wiring import FileInputs, collection_sources, split_people
    from ops_postmortem.workflows.collect import CollectOptions, collect, terminal_progress

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
    sources, chats = collection_sources(inputs, config, live=not args.offline,
                                        pagerduty_incident=args.pagerduty_incident,
                                        opsgenie_alert=args.opsgenie_alert)
    collect_options = CollectOptions(
        impact_started=args.impact_started,
        since=args.since,
        until=args.until,
        title=options.get("title"),
        severity=options.get("severity"),
        authors=tuple(person_from_text(n) for n in split_people(options.get("authors", []))),
        reviewers=tuple(person_from_text(n) for n in split_people(options.get("reviewers", []))),
    )
    with terminal_progress(len(sources) + len(chats) > 1) as progress:
        collection = collect(args.incident_id, sources, chats, settings, collect_options, progress=progress)
    timeline = collection.timeline
    for warning in timeline.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if timeline.redactions:
        from collections import Counter

        counts = Counter(f"{r.source} ({r.detector})" for r in timeline.redactions)
        where = ", ".join(f"{n} in {k}" for k, n in sorted(counts.items()))
        print(f"redacted {len(timeline.redactions)} secret(s): {where}", file=sys.stderr)
    return collection


def cmd_timeline(args: argparse.Namespace, config: Config) -> int:
    from ops_postmortem.output import timeline_json, timeline_table

    timeline = _collect(args, config).timeline
    if args.json:
        print(json.dumps(timeline_json(timeline), ensure_ascii=False))
    else:
        print(timeline_table(timeline, sys.stdout.isatty()))
    return 0


def cmd_open(args: argparse.Namespace, config: Config) -> int:
    from ops_postmortem.wiring import document_store
    from ops_postmortem.workflows.open import open_postmortem

    store = document_store(config, args.store)
    collection = _collect(args, config, title=args.title, severity=args.severity, authors=args.author,
                          reviewers=args.reviewer)
    result = open_postmortem(store, collection.timeline, refresh=args.refresh, force=args.force)
    if args.archive and collection.raw:
        from ops_postmortem.workflows.evidence import archive_evidence

        archived = archive_evidence(store, result.ref, collection.raw)
        if archived.error:
            print(f"warning: the evidence archive was not saved ({archived.error}); the postmortem is fine",
                  file=sys.stderr)
        else:
            print(f"archived {len(archived.locations)} evidence file(s) with the postmortem, "
                  f"{len(archived.redactions)} secret(s) redacted", file=sys.stderr)
    if args.json:
        print(json.dumps({"url": result.ref.url, "created": result.created}))
    elif result.created:
        print(f"created {result.ref.url}")
    elif args.refresh:
        print(f"{'refreshed' if result.refreshed else 'unchanged'} {result.ref.url}")
    else:
        print(f"exists {result.ref.url} (use --refresh to regenerate the timeline and metrics)")
    return 0


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False) if args.json else text)


def cmd_comment(args: argparse.Namespace, config: Config) -> int:
    from ops_postmortem.wiring import document_store

    store = document_store(config)
    ref = store.locate(args.doc)
    if args.list:
        threads = store.comments(ref)
        data = [_comment_json(c) for c in threads]
        lines = [f"{c.id} [{'open' if not c.resolved else 'resolved'}] {c.author.name}: {c.text}"
                 + (f'  (on "{c.quote}")' if c.quote else "") for c in threads]
        _emit(args, data, "\n".join(lines) or "no comments")
        return 0
    target = args.reply or args.resolve or args.reopen
    if target is None:
        if not args.text:
            raise UsageError("comment needs TEXT", hint='e.g. postmortem comment DOC --author "Dana" "LGTM"')
        comment = store.add_comment(ref, args.text, author=args.author, quote=args.quote)
        _emit(args, _comment_json(comment), f"added {comment.id}")
        return 0
    if args.reply and not args.text:
        raise UsageError("--reply needs TEXT")
    action: Literal["resolve", "reopen"] | None = "resolve" if args.resolve else "reopen" if args.reopen else None
    reply = store.reply(ref, target, args.text, author=args.author, action=action)
    _emit(args, {"id": reply.id, "comment": target, "action": reply.action}, f"added {reply.id}")
    return 0


def _comment_json(c: Any) -> dict[str, Any]:
    from ops_postmortem.model import iso_z

    return {"id": c.id, "author": c.author.name, "email": c.author.email, "created_at": iso_z(c.created_at),
            "quote": c.quote, "text": c.text, "resolved": c.resolved,
            "replies": [{"id": r.id, "author": r.author.name, "text": r.text, "action": r.action}
                        for r in c.replies]}


def cmd_review(args: argparse.Namespace, config: Config) -> int:
    from ops_postmortem.output import review_text
    from ops_postmortem.wiring import document_store, review_settings, signoff_rules
    from ops_postmortem.workflows.review import review, review_json

    store = document_store(config)
    result = review(store, store.locate(args.doc), signoff_rules(config), review_settings(config),
                    flags=args.reviewer, record=args.record)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    _emit(args, review_json(result), review_text(result))
    return 0 if result.report.signed_off else 3


def cmd_extract(args: argparse.Namespace, config: Config) -> int:
    from ops_postmortem.output import extract_text
    from ops_postmortem.wiring import document_store, extract_settings, ticket_tracker
    from ops_postmortem.workflows.extract import extract, results_json

    store = document_store(config)
    result = extract(store, ticket_tracker(config), store.locate(args.doc), extract_settings(config),
                     as_of=args.as_of or date.today(), dry_run=args.dry_run)
    _emit(args, results_json(result), extract_text(result, args.dry_run))
    return 0 if result.ok else 3


def cmd_sync(args: argparse.Namespace, config: Config) -> int:
    from ops_postmortem.output import sync_text
    from ops_postmortem.wiring import document_store, extract_settings, sync_state_path, ticket_tracker
    from ops_postmortem.workflows.sync import report_json, sync

    report = sync(document_store(config), ticket_tracker(config), sync_state_path(config),
                  extract_settings(config), as_of=args.as_of or date.today())
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    _emit(args, report_json(report), sync_text(report))
    return 1 if any(d.error for d in report.docs) else 0


def cmd_publish(args: argparse.Namespace, config: Config) -> int:
    from ops_postmortem.errors import ConfigError
    from ops_postmortem.model import UTC
    from ops_postmortem.wiring import (
        document_store,
        extract_settings,
        notifier,
        publish_channels,
        review_settings,
        signoff_rules,
    )
    from ops_postmortem.workflows.publish import not_signed_off, publish, publish_json, publish_text

    channels = publish_channels(config)
    slack = None if args.dry_run else notifier(config)
    if not args.dry_run and slack is None:
        raise ConfigError("publishing needs Slack: [slack] token is not set",
                          hint='set token = { env = "SLACK_BOT_TOKEN" } in [slack], or preview with --dry-run')
    if not args.dry_run and not channels:
        raise ConfigError("[slack] publish_channels is empty", hint='e.g. publish_channels = ["#postmortems"]')
    store = document_store(config)
    result = publish(store, slack, store.locate(args.doc), signoff_rules(config), review_settings(config), channels,
                     locale=extract_settings(config).locale, dry_run=args.dry_run, now=datetime.now(UTC))
    if args.dry_run or args.json:
        print(json.dumps(publish_json(result), ensure_ascii=False, indent=None if args.json else 2))
    if not result.signed_off:
        print(f"error: {not_signed_off(result)}", file=sys.stderr)
        return 3
    if not args.json and not args.dry_run:
        print(publish_text(result))
    return 0 if result.ok else 1


def cmd_remind(args: argparse.Namespace, config: Config) -> int:
    from ops_postmortem.wiring import (
        document_store,
        extract_settings,
        notifier,
        remind_settings,
        ticket_tracker,
    )
    from ops_postmortem.workflows.remind import remind, remind_json, remind_text

    settings = remind_settings(config)
    slack = notifier(config)
    if slack is not None and not settings.channels and not settings.dm_owners:
        print("warning: set [slack] remind_channels or remind_dm_owners = true to post reminders; listing only",
              file=sys.stderr)
        slack = None
    result = remind(document_store(config), ticket_tracker(config), slack, extract_settings(config), settings,
                    as_of=args.as_of or date.today(), dry_run=args.dry_run)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    _emit(args, remind_json(result), remind_text(result))
    return 0 if result.ok else 1


def cmd_lint(args: argparse.Namespace, config: Config) -> int:
    from ops_postmortem.actions import CheckRules
    from ops_postmortem.dates import DateParser
    from ops_postmortem.lint import findings_json, lint_document
    from ops_postmortem.output import lint_text
    from ops_postmortem.wiring import directory, document_store, extract_settings

    store = document_store(config)
    doc = store.read(store.locate(args.doc))
    settings = extract_settings(config)
    people = [name for e in directory(config).entries for name in (e.name, *e.aliases)]
    rules = CheckRules(incident_date=doc.incident_date, as_of=args.as_of or date.today(),
                       priority_limits=settings.priority_limits)
    findings = lint_document(doc, people=people, rules=rules, date_parser=DateParser(settings.locale))
    _emit(args, findings_json(findings), lint_text(findings))
    return 3 if findings else 0


def cmd_auth(args: argparse.Namespace, config: Config) -> int:
    from ops_postmortem.connectors.google.auth import authorize_user, scopes
    from ops_postmortem.connectors.google.settings import GoogleSettings

    settings = GoogleSettings.from_section(config.section("google"), config.base_dir)
    output = args.output or settings.credentials_file
    if output is None:
        raise UsageError("no place to write the Google credentials",
                         hint="pass --output PATH, or set [google] credentials_file in the config")
    path = authorize_user(args.client_secrets, output, scopes(template=settings.template_doc_id is not None),
                          open_browser=not args.no_browser)
    hint = "" if settings.credentials_file == path else "; set [google] credentials_file to it"
    print(f"wrote {path}{hint}")
    return 0


def cmd_tickets(args: argparse.Namespace, config: Config) -> int:
    from ops_postmortem.connectors.local.tracker import LocalTracker
    from ops_postmortem.output import ticket_json, ticket_line
    from ops_postmortem.wiring import ticket_tracker

    tracker = ticket_tracker(config)
    if not isinstance(tracker, LocalTracker):
        raise UsageError(f"`tickets` manages the local tracker; this config uses {tracker.kind}",
                         hint=f"use {tracker.kind} itself to list or close its tickets")
    if args.tickets_command == "list":
        found = tracker.list(status=args.status, incident=args.incident)
        _emit(args, [ticket_json(t) for t in found], "\n".join(ticket_line(t) for t in found) or "no tickets")
    elif args.tickets_command == "show":
        ticket = tracker.show(args.key)
        _emit(args, ticket_json(ticket), f"{ticket_line(ticket)}\n\n{ticket.description}")
    else:
        ticket = tracker.close(args.key, args.status)
        print(ticket_line(ticket))
    return 0


# ---- entry point ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    # argparse binds an optional positional before any flag, so `comment DOC --author A TEXT` leaves TEXT over.
    if extras and getattr(args, "text", None) == "" and len(extras) == 1 and not extras[0].startswith("-"):
        args.text, extras = extras[0], []
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
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
