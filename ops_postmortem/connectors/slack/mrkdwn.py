"""Slack mrkdwn -> plain readable text: mentions resolved, links spelled out, entities unescaped.

Slack escapes `&`, `<` and `>` in message text, so every `<...>` is a control sequence
(https://api.slack.com/reference/surfaces/formatting#escaping); one regex pass rewrites them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from ops_postmortem.model import iso_z
from ops_postmortem.timeutil import parse_epoch

_NOBODY: Mapping[str, str] = MappingProxyType({})

# A control sequence never starts with a space; that keeps a stray unescaped "a < b > c" intact.
_TOKEN = re.compile(r"<([^\s<>][^<>]*)>|&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_BROADCASTS = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}


def _unescape(text: str) -> str:
    # &amp; last, so "&amp;lt;" becomes "&lt;" and not "<".
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def to_text(
    text: str,
    *,
    users: Mapping[str, str] = _NOBODY,
    channels: Mapping[str, str] = _NOBODY,
) -> str:
    """Decode mrkdwn. `users` maps user ids to display names, `channels` channel ids to names."""
    if "<" not in text:
        return _unescape(text)

    def replace(m: re.Match[str]) -> str:
        entity = m.group(2)
        if entity is not None:
            return _ENTITIES[entity]
        return _control(m.group(1), m.group(0), users, channels)

    return _TOKEN.sub(replace, text)


def _control(inner: str, whole: str, users: Mapping[str, str], channels: Mapping[str, str]) -> str:
    target, _, label = inner.partition("|")
    label = _unescape(label)
    sigil = target[0]
    if sigil == "@":
        ident = target[1:]
        return "@" + (users.get(ident) or label.lstrip("@") or ident)
    if sigil == "#":
        ident = target[1:]
        return "#" + (label or channels.get(ident) or ident)
    if sigil == "!":
        return _special(target[1:], label)
    if not _SCHEME.match(target):
        return _unescape(whole)  # not a Slack control sequence after all: keep it as written
    url = _unescape(target)
    if url.startswith("mailto:"):
        address = url[len("mailto:") :]
        return address if not label or label == address else f"{label} ({address})"
    return url if not label or label == url else f"{label} ({url})"


def _special(command: str, label: str) -> str:
    name, _, argument = command.partition("^")
    if name in _BROADCASTS:
        return _BROADCASTS[name]
    if name == "subteam":
        return "@" + (label.lstrip("@") or argument)
    if name == "date":
        # <!date^epoch^format^optional_link|fallback>: the fallback is what old clients show.
        if label:
            return label
        epoch = argument.partition("^")[0]
        try:
            return iso_z(parse_epoch(epoch)) or epoch
        except (ArithmeticError, ValueError, OSError):  # bad digits, out of range
            return epoch  # not a time we can show; the raw value is still evidence
    return label or "@" + name
