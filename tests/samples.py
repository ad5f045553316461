"""Timelines for store and workflow tests: the example incident as the collectors read it, and a hostile one."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from ops_postmortem.config import TimelineSettings
from ops_postmortem.model import UTC, Incident, Kind, Person, Timeline, TimelineEvent
from ops_postmortem.moments import key_moments
from ops_postmortem.wiring import FileInputs, file_sources
from ops_postmortem.workflows.collect import CollectOptions, collect_timeline
from tests.conftest import EXAMPLES

REVIEWERS = (Person("Dana Kim", "dana@acme.test"), Person("Alex Chen", "alex@acme.test"))


def example_timeline(incident_id: str = "INC-2042", *, slack: bool = True) -> Timeline:
    inputs = FileInputs(
        pagerduty=(EXAMPLES / "pagerduty",),
        alertmanager=(EXAMPLES / "alertmanager",),
        events=(EXAMPLES / "events.csv",),
        slack_export=(EXAMPLES / "slack-export",) if slack else (),
        slack_channel="inc-2042-checkout" if slack else None,
        slack_workspace_url="https://acme-corp.slack.com" if slack else None,
    )
    sources, chats = file_sources(inputs)
    options = CollectOptions(severity="SEV2", authors=(Person("Priya Raman"),), reviewers=REVIEWERS)
    timeline = collect_timeline(incident_id, sources, chats, TimelineSettings(), options)
    return replace(timeline, incident=replace(timeline.incident, id=incident_id))


HOSTILE_TEXTS = (
    "<script>alert(1)</script> & <b>bold</b> ]]> <![CDATA[x]]>",
    "{{ 7*7 }} {% for x in y %}{{ x }}{% endfor %} ${jndi:ldap://x}",
    '<ac:structured-macro ac:name="html"><ac:plain-text-body>evil</ac:plain-text-body></ac:structured-macro>',
    "[click](http://evil.example.com) ![x](http://evil.example.com/x.png) | a | b |\nsecond line",
    "control \x07 bell and \x1b[31m escape, emoji 🔥 and a surrogate-pair 𝔘 count",
)


def hostile_timeline(incident_id: str = "INC-666") -> Timeline:
    t0 = datetime(2026, 11, 3, 23, 30, tzinfo=UTC)
    events = tuple(
        TimelineEvent(t0 + timedelta(minutes=i), "slack", Kind.MESSAGE, text, actor="<i>mallory</i>",
                      link="javascript:alert(1)" if i == 0 else "https://acme.slack.com/archives/C1/p1",
                      ident=f"17000000{i}.000100")
        for i, text in enumerate(HOSTILE_TEXTS)
    )
    incident = Incident(id=incident_id, title="Hostile <title> {{ 1+1 }} & co", severity="SEV3",
                        reviewers=(Person("Dana Kim"),))
    return Timeline(incident=incident, events=events, moments=key_moments(events))
