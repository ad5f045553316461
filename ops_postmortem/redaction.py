"""Secret redaction: nothing leaves the tool (doc, ticket, message, stdout) before passing through here.

A `Redactor` replaces each secret it finds with `[REDACTED:<detector>]`, keeping the non-secret context
(`postgres://app:[REDACTED:url-password]@db/app`, `password=[REDACTED:password]`), and records a
`Redaction(source, location, detector)` per secret - never the value itself. Redacting redacted text
changes nothing. A key pasted over several chat messages is followed from its BEGIN line to its END line.

Speed: one combined prefilter regex, run on the lower-cased text, rejects clean text before any detector
runs. Measured with benchmarks/bench_redaction.py on a busy shared 2-core box: 100,000 chat-like messages
in 0.3-0.5 CPU seconds (3-5 us each); texts with secrets 40-70 us each.

Decision on detect-secrets 1.5.0 (installed): its patterns are reused, the library is not called.
- Speed: `scan_file` (one message per line, default plugins and filters) ran 1,100-1,500 texts/s and ad-hoc
  `scan_line` 1,800-2,700 texts/s: 100,000 messages would take over a minute, and even behind our prefilter
  each flagged text would cost about a millisecond.
- Quality on the corpus in tests/unit/test_redaction.py: detect-secrets flagged 7 of 45 ordinary texts
  (a quoted hex request id, a sha256 image digest, `password: rotated`, `"secret_name": "payments-db-
  credentials"`, a vault reference, `apiKey: process.env.API_KEY`) and caught 22 of 41 secrets (no
  Authorization/Cookie headers, secret query parameters, Google keys/OAuth tokens, Opsgenie keys,
  `xapp-` Slack app tokens, `github_pat_` tokens, `--password x` or mrkdwn-wrapped keys). Ad-hoc
  `scan_line` flags nearly every word through eager entropy search. This module: 0 of 45 and 41 of 41.
- It reports values, not spans, so it cannot keep the context around a secret (the DSN user, the URL
  parameter name) - every hit would need a second search in our own code anyway.
Reused from it: the plugin patterns (Slack, GitHub, AWS, Stripe, npm, PyPI, JWT, private key, basic auth,
keyword list) as the starting point of the detectors below, and its Shannon-entropy measure, applied here
only to values assigned to a secret-like key after word, id, date, version and reference shapes are ruled out.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import string
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from ops_postmortem.errors import ConfigError
from ops_postmortem.model import IncidentFacts, Person, Redaction, TimelineEvent

MARKER_PREFIX = "[REDACTED:"
_MARKER = re.compile(r"\[REDACTED:[a-z0-9-]+\]")

# ---- value checks -----------------------------------------------------------------------------

# Values that stand for a secret without being one: env/template references, masks, empty-ish words.
_PLACEHOLDER = re.compile(
    r"""
    \$\{[^}]*\}? | \$\(?[A-Za-z_][A-Za-z0-9_]*\)? | \{\{.*?\}\}? | %\(?\w*\)?s | <[^<>]*>
    | [*x•.#?_-]{3,} | X{3,}
    | (?i:redacted|hidden|masked|removed|null|none|nil|undefined|empty|true|false|your[_-]?\w+)
    """,
    re.VERBOSE,
)
# Values that point at a secret store rather than hold a secret.
_REFERENCE = re.compile(r"(?i)(?:env|vault|file|op|arn|keyring|sops|secretsmanager|projects)[:/]|.*://")
# A plain word, e.g. "password: rotated" or "token: expired" in chat.
_WORD = re.compile(r"[A-Z]?[a-z]+(?:[-'][a-z]+)*|[A-Z]+")
# Pieces of ordinary ids: words, camelCase words, short numbers, versions (checkout-api-v2, us-east-1).
_ID_PART = re.compile(r"[A-Za-z][a-z]*|[A-Z]+|(?:[A-Z]?[a-z]{2,})+|\d{1,4}|v\d+(?:\.\d+)*")
_ID_SPLIT = re.compile(r"[-_./:@+]+")
_NOT_SECRET_SHAPES = re.compile(
    r"""
    \d{4}-\d{2}-\d{2}(?:[T ][\d:.]+)?(?:Z|[+-]\d{2}:?\d{2})?   # dates and timestamps
    | v?\d+(?:\.\d+)+(?:[-+][\w.]+)?                        # version strings
    | \d+                                                   # plain numbers
    """,
    re.VERBOSE,
)
# Key suffixes that name something about a secret, not the secret (secret_name, token_url, key_id).
_DESCRIPTIVE_WORDS = """
    id ids name names url uri urls path file files arn ref refs type types version count length len ttl
    expiry expires expiresin expiresat expiration expiredat timeout field header endpoint policy rotation
    rotatedat store manager provider source kind prefix mount label labels hint format age size mode
    minlength maxlength reset required enabled scope scopes
"""
_DESCRIPTIVE_SUFFIXES = frozenset(_DESCRIPTIVE_WORDS.split())

# Entropy thresholds sit at the 1st percentile of random values of the shortest length we accept (16
# chars, 5,000 samples): hex 2.69, base62 3.38 bits/char. Entropy alone cannot tell a token from a pod
# name or an instance id (both score 4+), so ids are ruled out by shape first and the check only ever
# runs on a value assigned to a secret-like key.
_MIN_SECRET_LENGTH = 16
_HEX_ENTROPY = 2.7
_OTHER_ENTROPY = 3.3


def shannon_entropy(value: str) -> float:
    """Bits per character of `value` (0 for the empty string)."""
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values()) if n else 0.0


def is_placeholder(value: str) -> bool:
    return not value.strip() or _PLACEHOLDER.fullmatch(value.strip()) is not None


def _looks_like_id(value: str) -> bool:
    parts = [p for p in _ID_SPLIT.split(value) if p]
    return all(_ID_PART.fullmatch(p) for p in parts)


def looks_random(value: str) -> bool:
    """True for values shaped like generated credentials rather than words, ids, dates or versions."""
    if len(value) < _MIN_SECRET_LENGTH or is_placeholder(value) or _REFERENCE.match(value):
        return False
    if _NOT_SECRET_SHAPES.fullmatch(value) or _looks_like_id(value):
        return False
    classes = sum(
        (any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value))
    )
    if classes < 2:
        return False
    hexish = re.fullmatch(r"[0-9a-fA-F-]+", value) is not None
    return shannon_entropy(value) >= (_HEX_ENTROPY if hexish else _OTHER_ENTROPY)


def _password_value(value: str) -> bool:
    # Any real value after a password key is a password, however weak. Words ("password: rotated"),
    # small numbers and paths (`pwd: /srv/app` is the directory) are not.
    v = value.strip()
    if is_placeholder(v) or _REFERENCE.match(v) or _WORD.fullmatch(v) or v.startswith(("/", "~/", "./")):
        return False
    return not (v.isdigit() and len(v) < 6) and len(v) >= 4


def _descriptive_key(suffix: str | None) -> bool:
    return re.sub(r"[^a-z]", "", (suffix or "").lower()) in _DESCRIPTIVE_SUFFIXES


def _b64decode(value: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


def _jwt_header(value: str) -> bool:
    head = _b64decode(value.split(".", 1)[0])
    return head is not None and head.lstrip().startswith(b"{")


# ---- detectors --------------------------------------------------------------------------------

# A check on a regex match and its secret value.
Accept = Callable[[re.Match[str], str], bool]
# A found secret: (match start, match end, secret start, secret end). Only the secret is replaced; a
# match touching an existing marker is skipped, which keeps redaction idempotent.
Span = tuple[int, int, int, int]
Finder = Callable[[str], Iterator[Span]]


@dataclass(frozen=True)
class _Detector:
    name: str
    find: Finder
    # Lower-case substrings of which one must occur for the detector to be worth running.
    hints: tuple[str, ...] = ()


def _secret_group(m: re.Match[str]) -> str | int:
    for name in ("secret", "secret2", "secret3", "secret4"):
        if name in m.re.groupindex and m.group(name) is not None:
            return name
    return 0


def _regex(pattern: str | re.Pattern[str], accept: Accept | None = None) -> Finder:
    compiled = re.compile(pattern)

    def find(text: str) -> Iterator[Span]:
        for m in compiled.finditer(text):
            group = _secret_group(m)
            value = m.group(group)
            if value and (accept is None or accept(m, value)):
                yield m.start(), m.end(), m.start(group), m.end(group)

    return find


def _value_ok(check: Callable[[str], bool]) -> Accept:
    return lambda m, value: check(value) and not _descriptive_key(m.groupdict().get("suffix"))


def _not_placeholder(m: re.Match[str], value: str) -> bool:
    return not is_placeholder(value)


def _query_value_ok(m: re.Match[str], value: str) -> bool:
    # A plain word is a real value only for a password; tokens, keys and signatures never are words.
    name = m["name"].lower()
    return not is_placeholder(value) and ("pass" in name or "pwd" in name or _WORD.fullmatch(value) is None)


_WS = r"[ \t\r\n]+"
_PEM_LABEL = rf"(?:[A-Z0-9]+{_WS}){{0,4}}?PRIVATE{_WS}KEY(?:{_WS}BLOCK)?"
_PEM_BEGIN = rf"-{{3,}}[ \t]*BEGIN{_WS}{_PEM_LABEL}[ \t]*-{{3,}}"
_PEM_END = rf"-{{3,}}[ \t]*END{_WS}{_PEM_LABEL}[ \t]*-{{3,}}"
_PEM_BEGIN_RE = re.compile(_PEM_BEGIN)
_PEM_END_RE = re.compile(_PEM_END)
# A middle piece of a key pasted over several messages: only base64 lines, maybe in a code fence.
_PEM_BODY_TOKEN = re.compile(r"[A-Za-z0-9+/]+={0,2}")

# Assignment syntax shared by the keyword detectors: the key's closing quote/bracket, a separator, the value.
# Chat adds mrkdwn around keys and values (`*password:* x`, `` `token`: x ``), hence the * ` _ allowed.
_SEP = r"""["'`*\\\]]*[ \t]*(?::=|=>|==|[:=]|[ \t](?=["']))[*_]*[ \t]*"""


def _value(bare_stops: str) -> str:
    """A quoted value, or a bare one running to whitespace, a quote, a bracket or one of `bare_stops`."""
    return (
        r"""(?:\\?"(?P<secret>[^"\\\r\n]+)\\?"|'(?P<secret2>[^'\r\n]+)'|`(?P<secret3>[^`\r\n]+)`"""
        rf"""|(?P<secret4>[^\s"'`<>|(){{}}\[\]{bare_stops}]+))"""
    )


_VALUE = _value(",;&")
# Passwords may contain '&' (query strings are handled before, by the query-secret detector).
_PASSWORD_VALUE = _value(",;")


def _assignment(keywords: str, value: str = _VALUE) -> str:
    # The key may sit inside a longer name (DB_PASSWORD, slackBotToken); the rest of the name is `suffix`.
    return rf"(?i:{keywords})(?P<suffix>[A-Za-z0-9_.-]{{0,40}}?){_SEP}{value}"


_PASSWORD_KEYS = r"passw(?:or)?d|passphrase|pwd|[_-]pass(?![a-z])"
_SECRET_KEYS = (
    r"secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|auth[_-]?key|signing[_-]?key"
    r"|encryption[_-]?key|master[_-]?key|session[_-]?key|credentials?|bearer"
)
_PAGERDUTY_KEYS = (
    r"(?:pagerduty|(?<![a-z])pd)[_-]?(?:api[_-]?|rest[_-]?|events?[_-]?)?(?:key|token)"
    r"|routing[_-]?key|integration[_-]?key|service[_-]?key"
)
_OPSGENIE_KEYS = r"(?:opsgenie|genie)[_-]?(?:api[_-]?)?(?:key|token)"
_QUERY_NAMES = (
    r"token|access_token|refresh_token|id_token|auth_token|api_token|private_token|session_token"
    r"|x-amz-security-token|api[_-]?key|apikey|key|sig|signature|x-amz-signature|x-amz-credential"
    r"|x-goog-signature|x-goog-credential|client_secret|password|passwd|pwd|secret"
)
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_PD_KEY = re.compile(r"[A-Za-z0-9_+-]{20,64}")
_OG_KEY = re.compile(rf"{_UUID}|[A-Za-z0-9_-]{{20,64}}")


def _builtin_detectors() -> tuple[_Detector, ...]:
    def d(name: str, hints: str, pattern: str, accept: Accept | None = None) -> _Detector:
        return _Detector(name, _regex(pattern, accept), tuple(hints.split()))

    return (
        d("private-key", "private", rf"(?P<secret>{_PEM_BEGIN}(?:[\s\S]*?{_PEM_END}|[\s\S]*))"),
        d(
            "private-key",
            "putty",
            r"(?P<secret>PuTTY-User-Key-File-\d:[\s\S]*?(?:Private-MAC:[ \t]*[0-9a-fA-F]+|\Z))",
        ),
        _Detector("private-key", _pem_tails, ("private",)),
        d(
            "jwt",
            "eyj",
            r"(?<![A-Za-z0-9_-])(?P<secret>eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
            r"(?:\.[A-Za-z0-9_-]+){0,2})",
            lambda m, v: _jwt_header(v),
        ),
        d(
            "slack-token",
            "xox xapp",
            r"(?<![A-Za-z0-9])(?P<secret>(?:xox(?:[abposr]|e\.xox[bp]|e)|xapp)-[A-Za-z0-9-]{8,})",
        ),
        d(
            "slack-webhook",
            "hooks.slack",
            r"https://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9_/-]{8,})",
        ),
        d(
            "github-token",
            "gh github_pat_",
            r"(?<![A-Za-z0-9_])(?P<secret>gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{40,255})"
            r"(?![A-Za-z0-9_])",
        ),
        d(
            "aws-access-key-id",
            "akia asia abia acca a3t",
            r"(?<![A-Za-z0-9])(?P<secret>(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16})(?![A-Za-z0-9])",
        ),
        d(
            "aws-secret-access-key",
            "secret",
            rf"(?i:aws[_-]?secret(?:[_-]?access)?(?:[_-]?key)?|secret[_-]?access[_-]?key){_SEP}"
            r"""\\?["']?(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])""",
        ),
        d("google-api-key", "aiza", r"(?<![A-Za-z0-9_-])(?P<secret>AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])"),
        d(
            "google-oauth-token",
            "ya29. 1//0",
            r"(?<![A-Za-z0-9_-])(?P<secret>ya29\.[0-9A-Za-z_-]{20,}|1//0[0-9A-Za-z_-]{40,})",
        ),
        d(
            "stripe-key",
            "_live_ whsec_",
            r"(?<![A-Za-z0-9_])(?P<secret>(?:sk|rk)_live_[0-9A-Za-z]{16,}|whsec_[0-9A-Za-z]{24,})",
        ),
        d("npm-token", "npm_", r"(?<![A-Za-z0-9_])(?P<secret>npm_[A-Za-z0-9]{36})(?![A-Za-z0-9])"),
        d("npm-token", "_authtoken", r"_authToken=(?P<secret>[^\s\"']+)", _not_placeholder),
        d("pypi-token", "pypi-", r"(?<![A-Za-z0-9_-])(?P<secret>pypi-AgE[A-Za-z0-9_-]{50,})"),
        d(
            "pagerduty-key",
            "pagerduty pd routing integration service",
            _assignment(_PAGERDUTY_KEYS),
            _value_ok(lambda v: _PD_KEY.fullmatch(v) is not None and not is_placeholder(v)),
        ),
        d(
            "opsgenie-key",
            "genie",
            _assignment(_OPSGENIE_KEYS),
            _value_ok(lambda v: _OG_KEY.fullmatch(v) is not None),
        ),
        d("opsgenie-key", "genie", rf"(?<![A-Za-z])(?i:geniekey)[ \t]+(?P<secret>{_UUID})"),
        d(
            "authorization-header",
            "authorization",
            r"(?i:\b(?:proxy-)?authorization)[\"'\\]*[ \t]*[:=][ \t]*[\"'\\]*"
            r"(?:(?:(?i:token[ \t]+token=|key=)"
            r"|(?i:bearer|basic|token|genie[ \t]?key|api-?key|sso-key|otp)[ \t]+)"
            r"(?P<secret>[^\s\"'`<>|,;\\)\]]+)"
            r"|(?i:digest|aws4-hmac-sha256|hmac|signature|negotiate|ntlm)[ \t]+(?P<secret2>[^\r\n\"'`<>|\\]+)"
            r"|(?P<secret3>[^\s\"'`<>|,;\\]{16,}))",
            lambda m, v: not is_placeholder(v) and _WORD.fullmatch(v) is None,
        ),
        d(
            "authorization-header",
            "bearer",
            r"(?<![A-Za-z])[Bb]earer[ \t]+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)",
            lambda m, v: looks_random(v),
        ),
        d(
            "basic-auth",
            "-u --user",
            r"(?<!\S)(?:-u|--user)[ \t]+[\"']?[^\s:\"']+:(?P<secret>[^\s\"']+)",
            _not_placeholder,
        ),
        # Greedy password up to the last '@' before the path, so a password containing '@' is covered whole.
        d(
            "url-password",
            "://",
            r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,30}://[^\s:/?#@\[\]\"'<>|]*:"
            r"(?P<secret>[^\s/?#\"'<>|]+)@(?=[^\s@/])",
            _not_placeholder,
        ),
        d(
            "query-secret",
            "= ",
            rf"(?<=[?&;#])(?P<name>(?i:{_QUERY_NAMES}))=(?P<secret>[^&#;\s\"'<>|)\]]+)",
            _query_value_ok,
        ),
        d(
            "cookie-header",
            "cookie",
            r"(?i:\b(?:set-)?cookie)[\"'\\*]*[ \t]*:[ \t]*[^\s=;\"'<>|]+=(?P<secret>[^\r\n\"'`<>|\\]+)",
            _not_placeholder,
        ),
        d("password", "pass pwd", _assignment(_PASSWORD_KEYS, _PASSWORD_VALUE), _value_ok(_password_value)),
        d(
            "password",
            "--pass",
            r"(?i:--password|--passwd)[ \t]+(?P<secret>[^\s\"'`]+)",
            lambda m, v: _password_value(v),
        ),
        d("secret", "secret token key credential bearer", _assignment(_SECRET_KEYS), _value_ok(looks_random)),
    )


# One regex, run on the lower-cased text, that every secret above trips; clean text skips all detectors.
# Python's regex engine tries each branch at each position, so every branch starts with a literal it can
# reject at once, and context is checked by lookbehind only after a less common character.
_SEP_AHEAD = r"""[\w.-]{0,40}["'`*\\\]]*[ \t]*[:="']"""
_PREFILTER = re.compile(
    rf"""
      -(?:--|-pass|-user|u[ \t]|(?<=pypi-)|pass(?![a-z]){_SEP_AHEAD})
    | _(?:(?<=npm_)|(?<=whsec_)|(?<=gh[oprsu]_)|(?<=github_pat_)|pass(?![a-z]){_SEP_AHEAD})
    | ://[^\s/@]{{0,256}}@
    | //(?<=1//)0
    | \.(?<=ya29\.)
    | a(?:kia|sia|bia|cca|3t|iza)
    | j(?<=eyj)
    | k(?:(?<=tok)en{_SEP_AHEAD}|ey{_SEP_AHEAD}|_live_|(?<=hook)s\.slack|(?<=cook)ie["'\\*]*[ \t]*:)
    | r(?:(?<=secr)et{_SEP_AHEAD}|(?<=cr)edential{_SEP_AHEAD}|(?<=bear)er)
    | g(?:enie|(?<=sig){_SEP_AHEAD})
    | w(?:(?<=--passw)|(?<=passw){_SEP_AHEAD}|(?<=pw)d{_SEP_AHEAD})
    | h(?<=passph)rase{_SEP_AHEAD}
    | z(?<=authoriz)ation
    | x(?:ox|app-)
    | putty
    """,
    re.VERBOSE,
)


# ---- the redactor -----------------------------------------------------------------------------


class Redactor:
    """Finds and replaces secrets; remembers where (never what) for the postmortem's redaction notes.

    `extra_patterns` are regexes for site-specific secrets (detector "custom"); a group named `secret`
    limits the redaction to that group. `allow` are regexes for values that must never be redacted
    (matched against the whole candidate value, e.g. a well-known test key).
    """

    def __init__(self, *, extra_patterns: Sequence[str] = (), allow: Sequence[str] = ()) -> None:
        custom = tuple(
            _Detector("custom", _regex(_compile(p, f"redaction.extra_patterns[{i}]")))
            for i, p in enumerate(extra_patterns)
        )
        self._detectors = _builtin_detectors()
        self._custom = custom
        self._allow = tuple(_compile(p, f"redaction.allow[{i}]") for i, p in enumerate(allow))
        self._redactions: list[Redaction] = []
        # (source, field) pairs whose previous text opened a PEM block without closing it.
        self._open_pem: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        detectors = len(self._detectors) + len(self._custom)
        return f"Redactor(detectors={detectors}, redactions={len(self._redactions)})"

    @property
    def redactions(self) -> tuple[Redaction, ...]:
        return tuple(self._redactions)

    def summary(self) -> dict[str, int]:
        return dict(Counter(r.detector for r in self._redactions))

    def redact(self, text: str, *, source: str, location: str) -> str:
        """`text` with every secret replaced by `[REDACTED:<detector>]`; one Redaction recorded per secret.

        `location` says where the text is, ending in the field name ("slack 1762213050.000100 text"). A
        private key whose BEGIN line opens one text is followed through the next texts of the same source
        and field that hold only base64 lines, as when a key is pasted over several chat messages.
        """
        if self._open_pem:
            pem_key = (source, _field(location))
            if pem_key in self._open_pem:
                self._open_pem.discard(pem_key)
                if _is_pem_body(text):
                    self._open_pem.add(pem_key)
                    self._redactions.append(Redaction(source, location, "private-key"))
                    return f"{MARKER_PREFIX}private-key]"
        lowered = text.lower()
        if _PREFILTER.search(lowered):
            if "private" in lowered and _pem_left_open(text):
                self._open_pem.add((source, _field(location)))
            for detector in self._detectors:
                if any(h in lowered for h in detector.hints):
                    text = self._apply(detector, text, source, location)
        for detector in self._custom:
            text = self._apply(detector, text, source, location)
        return text

    def _apply(self, detector: _Detector, text: str, source: str, location: str) -> str:
        protected = [m.span() for m in _MARKER.finditer(text)] if MARKER_PREFIX in text else []
        pieces: list[str] = []
        done = 0
        for start, end, secret_start, secret_end in detector.find(text):
            if secret_start < done or any(ps < end and pe > start for ps, pe in protected):
                continue
            if any(a.fullmatch(text[secret_start:secret_end]) for a in self._allow):
                continue
            self._redactions.append(Redaction(source, location, detector.name))
            pieces += (text[done:secret_start], f"{MARKER_PREFIX}{detector.name}]")
            done = secret_end
        return "".join((*pieces, text[done:])) if pieces else text


def _field(location: str) -> str:
    return location.rsplit(" ", 1)[-1]


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        raise ConfigError(
            f"{where}: not a valid regular expression ({e.msg})", hint="fix the pattern"
        ) from None
    if compiled.fullmatch(""):
        raise ConfigError(
            f"{where}: the pattern matches empty text", hint="make it match at least one character"
        )
    return compiled


def _pem_left_open(text: str) -> bool:
    """True when the last PEM BEGIN in `text` has no END after it (the rest may follow in later texts)."""
    begins = list(_PEM_BEGIN_RE.finditer(text))
    return bool(begins) and _PEM_END_RE.search(text, begins[-1].end()) is None


_BASE64_CHARS = frozenset(string.ascii_letters + string.digits + "+/=")


def _pem_tails(text: str) -> Iterator[Span]:
    """The base64 lines up to and including a PEM END line: the rest of a key begun in an earlier message."""
    for m in _PEM_END_RE.finditer(text):
        start = _base64_lines_before(text, m.start())
        if start < m.start():
            yield start, m.end(), start, m.end()


def _base64_lines_before(text: str, end: int) -> int:
    # Walks back line by line in plain Python: a regex anchored at `end` would retry every start
    # position and go quadratic on a long base64 blob.
    start = pos = end
    last_line = True
    while True:
        while pos > 0 and (text[pos - 1].isspace() or _escaped_newline_before(text, pos)):
            pos -= 2 if _escaped_newline_before(text, pos) else 1
        stop = pos
        while pos > 0 and text[pos - 1] in _BASE64_CHARS and not _escaped_newline_before(text, pos):
            pos -= 1
        line = text[pos:stop]
        if not _PEM_BODY_TOKEN.fullmatch(line) or (len(line) < 16 and not last_line):
            return start
        start, last_line = pos, False


def _escaped_newline_before(text: str, pos: int) -> bool:
    # Keys pasted from JSON (service-account files) carry their line breaks as a literal backslash-n.
    return pos >= 2 and text[pos - 2 : pos] == "\\n"


def _is_pem_body(text: str) -> bool:
    tokens = text.replace("```", " ").replace("\\n", " ").split()
    return (
        bool(tokens)
        and all(_PEM_BODY_TOKEN.fullmatch(t) for t in tokens)
        and any(len(t) >= 40 for t in tokens)
        and sum(map(len, tokens)) >= 64
    )


# ---- domain helpers ---------------------------------------------------------------------------


def _where(source: str, ident: str | None, field: str) -> str:
    return f"{source} {ident} {field}" if ident else f"{source} {field}"


def redact_event(redactor: Redactor, event: TimelineEvent) -> TimelineEvent:
    """The event with its free-text fields redacted; ids (ident, dedupe_key, thread) stay as they are."""
    where = event.ident or None
    text = redactor.redact(event.text, source=event.source, location=_where(event.source, where, "text"))
    actor = (
        None
        if event.actor is None
        else redactor.redact(event.actor, source=event.source, location=_where(event.source, where, "actor"))
    )
    link = (
        None
        if event.link is None
        else redactor.redact(event.link, source=event.source, location=_where(event.source, where, "link"))
    )
    if (text, actor, link) == (event.text, event.actor, event.link):
        return event
    return replace(event, text=text, actor=actor, link=link)


def redact_facts(redactor: Redactor, facts: IncidentFacts) -> IncidentFacts:
    """The facts with every free-text field redacted; the ids that find the incident again stay."""
    ident = facts.ident or "incident"

    def r(value: str | None, field: str) -> str | None:
        if value is None:
            return None
        return redactor.redact(value, source=facts.source, location=_where(facts.source, ident, field))

    def person(p: Person, i: int) -> Person:
        name = r(p.name, f"responders[{i}].name") or ""
        email = r(p.email, f"responders[{i}].email")
        return p if (name, email) == (p.name, p.email) else replace(p, name=name, email=email)

    changed = replace(
        facts,
        title=r(facts.title, "title"),
        severity=r(facts.severity, "severity"),
        status=r(facts.status, "status"),
        service=r(facts.service, "service"),
        url=r(facts.url, "url"),
        responders=tuple(person(p, i) for i, p in enumerate(facts.responders)),
    )
    return facts if changed == facts else changed
