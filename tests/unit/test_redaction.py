"""Secret redaction: a corpus per detector, the false positives that must survive, and the bookkeeping.

Every fake secret is assembled at run time (prefix + generated body) so no literal in this file looks
like a real credential to a secret scanner such as GitHub push protection.
"""

from __future__ import annotations

import base64
import json
import random
import string
import time
from datetime import UTC, datetime

import pytest

from ops_postmortem.errors import ConfigError
from ops_postmortem.model import IncidentFacts, Kind, Person, Redaction, TimelineEvent
from ops_postmortem.redaction import (
    _PREFILTER,
    Redactor,
    is_placeholder,
    looks_random,
    redact_event,
    redact_facts,
    shannon_entropy,
)

B62 = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
UPPER = string.ascii_uppercase + string.digits


def body(alphabet: str, n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def uuid(seed: int) -> str:
    h = body(HEX, 32, seed)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


SLACK_BOT = "xo" + "xb-" + "2741826354-4118275940213-" + body(B62, 24, 1)
SLACK_USER = "xo" + "xp-" + "2741826354-4118275940213-4122334455667-" + body(HEX, 32, 2)
SLACK_APP = "xa" + "pp-1-A0B1C2D3E4F-5566778899001-" + body(HEX, 64, 3)
SLACK_WEBHOOK_PATH = "T0A1B2C3D/B0E5F6G7H/" + body(B62, 24, 4)
GH_PAT = "gh" + "p_" + body(B62, 36, 5)
GH_APP = "gh" + "s_" + body(B62, 36, 6)
GH_FINE = "github" + "_pat_" + body(B62, 22, 7) + "_" + body(B62, 59, 8)
AWS_ID = "AK" + "IA" + body(UPPER, 16, 9)
AWS_STS_ID = "AS" + "IA" + body(UPPER, 16, 10)
AWS_SECRET = body(B62 + "/+", 40, 11)
GOOGLE_KEY = "AI" + "za" + body(B62 + "_-", 35, 12)
GOOGLE_OAUTH = "ya" + "29." + "a0AfB_" + body(B62 + "_-", 120, 13)
STRIPE = "sk" + "_live_" + body(B62, 24, 14)
NPM = "np" + "m_" + body(B62, 36, 15)
PYPI = "pyp" + "i-AgEIcHlwaS5vcmc" + body(B62 + "_-", 140, 16)
PD_REST = body(B62 + "_-", 20, 17)
PD_ROUTING = body(HEX, 32, 18)
OG_KEY = uuid(19)
JWT = ".".join(
    (
        b64url({"alg": "HS256", "typ": "JWT"}),
        b64url({"sub": "svc-checkout", "exp": 1762216650}),
        body(B62 + "_-", 43, 20),
    )
)
BEARER = body(B62, 40, 21)
HIGH_ENTROPY = body(B62, 32, 22)
PEM_BODY = [body(B62 + "+/", 64, 30 + i) for i in range(4)] + [body(B62 + "+/", 20, 40) + "=="]
PEM = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(PEM_BODY) + "\n-----END RSA PRIVATE KEY-----"


def run(text: str) -> tuple[str, Redactor]:
    redactor = Redactor()
    return redactor.redact(text, source="slack", location="slack 1762213050.000100 text"), redactor


# (detector, text, secret that must disappear)
POSITIVE: list[tuple[str, str, str]] = [
    ("slack-token", f"bot token is {SLACK_BOT} - rotate it", SLACK_BOT),
    ("slack-token", f"SLACK_USER_TOKEN={SLACK_USER}", SLACK_USER),
    ("slack-token", f"socket mode app token `{SLACK_APP}`", SLACK_APP),
    (
        "slack-webhook",
        f"alerts post to https://hooks.slack.com/services/{SLACK_WEBHOOK_PATH}",
        SLACK_WEBHOOK_PATH,
    ),
    ("github-token", f"the runner had GITHUB_TOKEN {GH_PAT} in its env", GH_PAT),
    ("github-token", f"installation token {GH_APP}", GH_APP),
    ("github-token", f"fine-grained PAT {GH_FINE} expires friday", GH_FINE),
    ("aws-access-key-id", f"export AWS_ACCESS_KEY_ID={AWS_ID}", AWS_ID),
    ("aws-access-key-id", f"assumed role, creds {AWS_STS_ID} expire in 1h", AWS_STS_ID),
    ("aws-secret-access-key", f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET),
    ("aws-secret-access-key", f'{{"AccessKeyId": "x", "SecretAccessKey": "{AWS_SECRET}"}}', AWS_SECRET),
    ("google-api-key", f"maps key {GOOGLE_KEY} is public in the bundle", GOOGLE_KEY),
    ("google-oauth-token", f"gcloud auth print-access-token gave {GOOGLE_OAUTH}", GOOGLE_OAUTH),
    ("stripe-key", f"STRIPE_SECRET_KEY={STRIPE}", STRIPE),
    ("npm-token", f"publish used {NPM}", NPM),
    ("npm-token", "//registry.npmjs.org/:_authToken=" + PD_ROUTING, PD_ROUTING),
    ("pypi-token", f"twine upload -p {PYPI}", PYPI),
    ("pagerduty-key", f"PAGERDUTY_API_KEY={PD_REST}", PD_REST),
    ("pagerduty-key", f'"routing_key": "{PD_ROUTING}"', PD_ROUTING),
    ("opsgenie-key", f"OPSGENIE_API_KEY={OG_KEY}", OG_KEY),
    (
        "opsgenie-key",
        f"curl -H 'Authorization: GenieKey {OG_KEY}' https://api.opsgenie.com/v2/alerts",
        OG_KEY,
    ),
    ("jwt", f"session cookie was {JWT}", JWT),
    ("private-key", f"oops:\n```{PEM}```", PEM_BODY[2]),
    ("authorization-header", f"curl -H 'Authorization: Bearer {BEARER}' https://api.example.com", BEARER),
    (
        "authorization-header",
        "Authorization: Basic " + base64.b64encode(b"svc-deploy:Hunter2x!").decode(),
        base64.b64encode(b"svc-deploy:Hunter2x!").decode(),
    ),
    ("authorization-header", f"Authorization: Token token={PD_REST}", PD_REST),
    ("authorization-header", f"send it with Bearer {BEARER}", BEARER),
    ("basic-auth", "curl -u deploy:Hunter2x! https://ci.example.com/api/json", "Hunter2x!"),
    ("cookie-header", f"Set-Cookie: sid={BEARER}; Path=/; HttpOnly", BEARER),
    ("cookie-header", f"-H 'Cookie: _ga=GA1.2.3; session={HIGH_ENTROPY}'", HIGH_ENTROPY),
    (
        "url-password",
        "DATABASE_URL=postgres://app:Pg" + "Secr3tPass@db.internal:5432/app",
        "Pg" + "Secr3tPass",
    ),
    ("query-secret", "https://api.example.com/v1/export?format=csv&token=" + HIGH_ENTROPY, HIGH_ENTROPY),
    ("password", "password=hunter2x", "hunter2x"),
    ("password", 'config: {"db_password": "' + "c0rrect horse!" + '"}', "c0rrect horse!"),
    ("password", "mysql --password S3cr3tPw -h db", "S3cr3tPw"),
    ("password", "*password:* hunter2x (slack bold)", "hunter2x"),
    ("query-secret", "https://internal.example.com/login?user=ops&password=letmein", "letmein"),
    ("secret", f"secret={HIGH_ENTROPY}", HIGH_ENTROPY),
    ("secret", f"token: {HIGH_ENTROPY}", HIGH_ENTROPY),
    ("secret", f'api-key: "{HIGH_ENTROPY}"', HIGH_ENTROPY),
    ("secret", f"client_secret = '{HIGH_ENTROPY}'", HIGH_ENTROPY),
]

# Query parameters that carry secrets, each on its own.
QUERY_PARAMS = [
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "sig",
    "signature",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Goog-Signature",
    "client_secret",
    "password",
]

NEGATIVE = [
    f"deployed checkout-api-v2 {body(HEX, 40, 50)} to prod",
    f"reverted https://github.com/acme/checkout/commit/{body(HEX, 40, 51)}",
    f"request id {uuid(52)} failed with 502",
    f'x-request-id: "{body(HEX, 32, 53)}"',
    f"trace {body(HEX, 32, 54)} span {body(HEX, 16, 55)}",
    "pod checkout-api-v2-7d9f8b6c5-x2k4q OOMKilled, node ip-10-0-12-34.ec2.internal",
    "kubectl -n payments rollout restart deploy/ledger-worker-5c7f9d8b4d",
    f"image ghcr.io/acme/checkout@sha256:{body(HEX, 64, 56)}",
    "see https://grafana.example.com/d/a1b2c3/checkout?orgId=1&from=now-6h&to=now&var-pod=checkout-7d9f",
    "https://acme.pagerduty.com/incidents/Q2N4VZ3XKD7P1A?utm_source=slack",
    "<https://acme.slack.com/archives/C024BE7LH/p1762213050000100?thread_ts=1762213050.000100&amp;cid=C0|t>",
    "started 2025-11-04T12:34:56.789Z, mitigated 2025-11-04 13:02:11+01:00",
    "rolled back to v2.14.3-rc.1+build.20251104 from 2.15.0",
    "token: checkout-api-v2",
    "password: rotated",
    "the password reset flow broke after the token refresh change",
    '"secret_name": "payments-db-credentials"',
    "secretName: payments-db-credentials-7d9f8b6c5",
    "token_count: 1500, tokens=2048",
    "token_type: Bearer",
    "pwd: /srv/checkout/releases/20251104",
    "the key takeaway: alerts fired 12 minutes late",
    "Authorization: required for /admin",
    "authorization: token expired",
    "bearer of bad news: the replica is gone",
    "Basic troubleshooting first, please",
    "<@U024BE7LH> can you ack? cc <#C024BE7LH|incident-4242>",
    "ssh git@github.com and ping alice@example.com",
    "postgres://app@db.internal:5432/app (no password, IAM auth)",
    "redis://redis.internal:6379/0",
    "---\nsummary below\n-----",
    "-----BEGIN CERTIFICATE-----\nMIIB" + body(B62, 60, 57) + "\n-----END CERTIFICATE-----",
    "password=${DB_PASSWORD}",
    "token: <your-token-here>",
    "password: ********",
    "api_key: $API_KEY",
    "DATABASE_URL=postgres://app:${PGPASSWORD}@db/app",
    "secret: vault:secret/data/checkout#db",
    "eyJhbGciOi is how every JWT starts",
    "our ASIA region is fine",
    "the cookie: it expired after 1h",
    "https://app.example.com/?key=dashboard&tab=overview",
    "at com.acme.TokenService.validate(TokenService.java:42)",
    "apiKey: process.env.API_KEY",
    "docker login --password-stdin ghcr.io",
]


@pytest.mark.parametrize(
    ("detector", "text", "secret"), POSITIVE, ids=[f"{d}-{i}" for i, (d, _, _) in enumerate(POSITIVE)]
)
def test_each_detector_redacts_its_secret(detector: str, text: str, secret: str) -> None:
    out, redactor = run(text)
    assert secret not in out
    assert f"[REDACTED:{detector}]" in out
    assert detector in redactor.summary()


@pytest.mark.parametrize("text", NEGATIVE)
def test_ordinary_text_survives_untouched(text: str) -> None:
    out, redactor = run(text)
    assert out == text
    assert redactor.redactions == ()


@pytest.mark.parametrize(("seed", "name"), list(enumerate(QUERY_PARAMS)))
def test_secret_query_parameters_are_redacted_and_named(seed: int, name: str) -> None:
    value = body(B62, 28, 100 + seed)
    url = "https://files.example.com/dump.sql?X-Amz-Algorithm=AWS4-HMAC-SHA256&{}={}&X-Amz-Expires=3600"
    out, redactor = run(url.format(name, value))
    assert out == url.format(name, "[REDACTED:query-secret]")
    assert redactor.summary() == {"query-secret": 1}


def test_context_around_secrets_is_kept() -> None:
    # template, secret, detector: the text around {} must come out unchanged
    cases = [
        ("postgres://user:{}@host/db", "Pg" + "Secr3tPass", "url-password"),
        ("password={}", "hunter2x", "password"),
        ('{{"password": "{}", "user": "app"}}', "Pg" + "Secr3tPass", "password"),
        ("Authorization: Bearer {}", BEARER, "authorization-header"),
        ("https://hooks.slack.com/services/{}", SLACK_WEBHOOK_PATH, "slack-webhook"),
        ("export AWS_ACCESS_KEY_ID={} # ci", AWS_ID, "aws-access-key-id"),
        ("PASSPHRASE={} # keep the ampersand inside", "Tr0ub4dor&3x", "password"),
        ("Server=db;Database=app;User Id=sa;Password={};Encrypt=true", "P@ss" + "w0rd", "query-secret"),
    ]
    for template, secret, detector in cases:
        assert run(template.format(secret))[0] == template.format(f"[REDACTED:{detector}]")


def test_dsns_keep_user_host_and_database() -> None:
    pw = "p" + "@ss:w0rd"
    templates = [
        "mongodb+srv://reporting:{}@cluster0.abcde.mongodb.net/app?retryWrites=true",
        "redis://:{}@cache.internal:6379/0",
        "jdbc:postgresql://svc:{}@db:5432/ledger",
        "amqp://guest:{}@mq/vhost",
        "https://deploy:{}@git.example.com/acme/app.git",
    ]
    for template in templates:
        out, redactor = run(template.format(pw))
        assert out == template.format("[REDACTED:url-password]")
        assert pw not in out and "w0rd" not in out
        assert redactor.summary() == {"url-password": 1}


def test_urls_in_attachments_lose_only_their_signatures() -> None:
    amz_sig = body(HEX, 64, 60)
    goog_sig = body(HEX, 128, 61)
    sas_sig = body(B62, 43, 62) + "%3D"
    attachment_text = "\n".join(
        (
            "uploaded heap dump",
            (
                "<https://dumps.s3.amazonaws.com/heap.hprof?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                f"&amp;X-Amz-Credential={AWS_ID}%2F20251104%2Fus-east-1%2Fs3%2Faws4_request"
                "&amp;X-Amz-Date=20251104T123456Z&amp;X-Amz-Expires=3600"
                f"&amp;X-Amz-Signature={amz_sig}|heap.hprof>"
            ),
            (
                "https://storage.googleapis.com/acme-logs/app.log?X-Goog-Algorithm=GOOG4-RSA-SHA256"
                f"&X-Goog-Signature={goog_sig}"
            ),
            f"https://acmelogs.blob.core.windows.net/d/a.bin?sv=2022-11-02&se=2025-11-05&sp=r&sig={sas_sig}",
            "https://files.slack.com/files-pri/T024BE7LH-F0S43PZDF/heap.png",
        )
    )
    out, redactor = run(attachment_text)
    for secret in (AWS_ID, amz_sig, goog_sig, sas_sig):
        assert secret not in out
    assert "https://files.slack.com/files-pri/T024BE7LH-F0S43PZDF/heap.png" in out
    assert "X-Amz-Date=20251104T123456Z" in out and "sv=2022-11-02" in out
    assert out.count("|heap.hprof>") == 1
    assert redactor.summary() == {"aws-access-key-id": 1, "query-secret": 3}


def test_pem_blocks_in_every_shape() -> None:
    split_header = (
        "-----BEGIN OPENSSH PRIVATE\nKEY-----\n"
        + "\n".join(PEM_BODY)
        + "\n-----END OPENSSH PRIVATE\nKEY-----"
    )
    json_escaped = (
        '{"private_key": "-----BEGIN PRIVATE KEY-----\\n'
        + "\\n".join(PEM_BODY)
        + '\\n-----END PRIVATE KEY-----\\n"}'
    )
    one_line = "-----BEGIN EC PRIVATE KEY----- " + " ".join(PEM_BODY) + " -----END EC PRIVATE KEY-----"
    truncated = "here it is\n-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(PEM_BODY[:2])
    for text in (PEM, split_header, json_escaped, one_line, truncated):
        out, redactor = run(f"before {text} after" if text is not truncated else text)
        assert all(line not in out for line in PEM_BODY[:4]), text[:40]
        assert redactor.summary() == {"private-key": 1}
    assert run(json_escaped)[0] == '{"private_key": "[REDACTED:private-key]\\n"}'
    assert run(truncated)[0] == "here it is\n[REDACTED:private-key]"


def test_pem_split_across_chat_messages() -> None:
    messages = [
        "pasting the deploy key, sorry\n-----BEGIN RSA PRIVATE KEY-----\n" + PEM_BODY[0],
        "```" + "\n".join(PEM_BODY[1:3]) + "```",
        PEM_BODY[3] + "\n" + PEM_BODY[4] + "\n-----END RSA PRIVATE KEY-----",
        "ok deleting those messages now",
    ]
    events = [
        TimelineEvent(
            at=datetime(2025, 11, 4, 12, 40, i, tzinfo=UTC),
            source="slack",
            kind=Kind.MESSAGE,
            text=text,
            actor="Dana Ops",  # redacted between the texts; must not lose track of the open key
            ident=f"17622132{i}0.000100",
        )
        for i, text in enumerate(messages)
    ]
    redactor = Redactor()
    outs = [redact_event(redactor, e).text for e in events]
    assert all(line not in "\n".join(outs) for line in PEM_BODY)
    assert outs == [
        "pasting the deploy key, sorry\n[REDACTED:private-key]",
        "[REDACTED:private-key]",
        "[REDACTED:private-key]",
        messages[3],
    ]
    assert [r.location for r in redactor.redactions] == [f"slack 17622132{i}0.000100 text" for i in range(3)]


def test_pem_tail_with_json_escaped_newlines() -> None:
    text = '"' + "\\n".join(PEM_BODY[2:]) + '\\n-----END PRIVATE KEY-----\\n"'
    out, redactor = run(text)
    assert out == '"[REDACTED:private-key]\\n"'
    assert redactor.summary() == {"private-key": 1}


def test_base64_message_without_an_open_key_is_left_alone() -> None:
    text = "\n".join(PEM_BODY[1:3])
    assert run(text)[0] == text


def test_redaction_is_idempotent() -> None:
    for _, text, _ in POSITIVE:
        once, redactor = run(text)
        count = len(redactor.redactions)
        assert redactor.redact(once, source="slack", location="again") == once
        assert len(redactor.redactions) == count, text


def test_secrets_never_reach_records_or_repr() -> None:
    redactor = Redactor()
    for i, (_, text, _) in enumerate(POSITIVE):
        redactor.redact(text, source="slack", location=f"slack {i} text")
    dump = repr(redactor) + repr(redactor.redactions) + repr(redactor.summary())
    for _, _, secret in POSITIVE:
        assert secret not in dump
    assert len(redactor.redactions) == len(POSITIVE)


def test_event_fields_are_redacted_with_locations_and_counts() -> None:
    event = TimelineEvent(
        at=datetime(2025, 11, 4, 12, 37, 30, tzinfo=UTC),
        source="slack",
        kind=Kind.MESSAGE,
        text=f"try with {SLACK_BOT} and password=hunter2x",
        actor="alice",
        link=f"https://ci.example.com/job/42?token={HIGH_ENTROPY}",
        ident="1762213050.000100",
        thread="1762213000.000050",
    )
    redactor = Redactor()
    out = redact_event(redactor, event)
    assert out.text == "try with [REDACTED:slack-token] and password=[REDACTED:password]"
    assert out.link == "https://ci.example.com/job/42?token=[REDACTED:query-secret]"
    assert (out.actor, out.ident, out.thread, out.at) == ("alice", event.ident, event.thread, event.at)
    assert redactor.redactions == (
        Redaction("slack", "slack 1762213050.000100 text", "slack-token"),
        Redaction("slack", "slack 1762213050.000100 text", "password"),
        Redaction("slack", "slack 1762213050.000100 link", "query-secret"),
    )
    assert redactor.summary() == {"slack-token": 1, "password": 1, "query-secret": 1}


def test_clean_event_is_returned_as_is() -> None:
    event = TimelineEvent(
        at=datetime(2025, 11, 4, 12, 0, tzinfo=UTC),
        source="pagerduty",
        kind=Kind.TRIGGER,
        text="Triggered: checkout 5xx > 2%",
        ident="R1ABCDEF",
    )
    assert redact_event(Redactor(), event) is event


def test_incident_facts_are_redacted_but_ids_kept() -> None:
    facts = IncidentFacts(
        source="pagerduty",
        ident="Q2N4VZ3XKD7P1A",
        number="4242",
        title=f"checkout 5xx - webhook https://hooks.slack.com/services/{SLACK_WEBHOOK_PATH} down",
        service="checkout-api",
        url=f"https://acme.pagerduty.com/incidents/Q2N4VZ3XKD7P1A?auth_token={HIGH_ENTROPY}",
        responders=(Person("Alice Ng", "alice@example.com"), Person(f"bot {GH_PAT}")),
    )
    redactor = Redactor()
    out = redact_facts(redactor, facts)
    assert (out.ident, out.number, out.service) == (facts.ident, facts.number, facts.service)
    assert (
        out.title == "checkout 5xx - webhook https://hooks.slack.com/services/[REDACTED:slack-webhook] down"
    )
    assert out.url == "https://acme.pagerduty.com/incidents/Q2N4VZ3XKD7P1A?auth_token=[REDACTED:query-secret]"
    assert out.responders[0] is facts.responders[0]
    assert out.responders[1].name == "bot [REDACTED:github-token]"
    assert [r.location for r in redactor.redactions] == [
        "pagerduty Q2N4VZ3XKD7P1A title",
        "pagerduty Q2N4VZ3XKD7P1A url",
        "pagerduty Q2N4VZ3XKD7P1A responders[1].name",
    ]
    clean = IncidentFacts(source="opsgenie", title="disk full on db-3")
    assert redact_facts(redactor, clean) is clean


def test_allow_list_and_extra_patterns() -> None:
    redactor = Redactor(
        extra_patterns=[r"ACME-(?P<secret>[0-9A-F]{12})", r"internal-[a-z]{6}-key"], allow=[AWS_ID]
    )
    template = "key {} is the documented example; license ACME-{}; {}"
    text = template.format(AWS_ID, body("0123456789ABCDEF", 12, 70), "internal-abcdef-key")
    out = redactor.redact(text, source="events", location="events 3 text")
    assert out == template.format(AWS_ID, "[REDACTED:custom]", "[REDACTED:custom]")
    assert redactor.summary() == {"custom": 2}
    assert redactor.redact(out, source="events", location="events 3 text") == out


@pytest.mark.parametrize(
    ("pattern", "problem"), [("(unclosed", "not a valid regular expression"), ("x*", "matches empty")]
)
def test_bad_extra_pattern_is_a_config_error(pattern: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        Redactor(extra_patterns=["ok-[0-9]+", pattern])
    assert str(info.value).startswith("redaction.extra_patterns[1]: ")
    assert problem in str(info.value)


def test_entropy_separates_tokens_from_ids() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == pytest.approx(2.0)
    tokens = [body(B62, 24, 80 + i) for i in range(50)] + [body(HEX, 40, 200 + i) for i in range(50)]
    assert all(looks_random(t) for t in tokens)
    shortest = [body(HEX, 16, 300 + i) for i in range(200)] + [body(B62, 16, 600 + i) for i in range(200)]
    assert sum(map(looks_random, shortest)) >= 390  # the thresholds sit near the 1st percentile
    ids = [
        "checkout-api-v2",
        "payments-db-credentials",
        "us-east-1",
        "2025-11-04T12:34:56Z",
        "v2.14.3-rc.1",
        "ProdDatabaseMasterPassword",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
        "https://vault.example.com/v1/secret",
        "1762213050000100",
        "abcdefghijklmnopqrstuvwxyz",
    ]
    assert not any(looks_random(i) for i in ids)


def test_placeholders() -> None:
    for value in (
        "${DB_PASSWORD}",
        "$TOKEN",
        "{{ .Values.token }}",
        "<token>",
        "********",
        "xxx",
        "REDACTED",
        "null",
        "",
    ):
        assert is_placeholder(value), value
    assert not is_placeholder("hunter2x")


def test_prefilter_rejects_ordinary_chat_and_passes_every_secret() -> None:
    # The speed guarantee: clean chat never reaches the detectors.
    for text in NEGATIVE[:13]:
        assert _PREFILTER.search(text.lower()) is None, text
    for _, text, _ in POSITIVE:
        assert _PREFILTER.search(text.lower()) is not None, text


def test_adversarial_texts_take_linear_time() -> None:
    # Each of these took tens of seconds with a naive regex (quadratic backtracking); linear is milliseconds.
    blob_lines = ("A" * 64 + "\n") * 3000
    texts = [
        blob_lines + "-----END RSA PRIVATE KEY",
        "private " + "A" * 200_000,
        "-----BEGIN RSA PRIVATE KEY-----\n" + blob_lines,
        "token" * 40_000,
        "token=a" * 30_000,
        "://" * 60_000,
        "Bearer " + "x" * 200_000,
    ]
    redactor = Redactor()
    started = time.perf_counter()
    for text in texts:
        redactor.redact(text, source="slack", location="slack 1 text")
    assert time.perf_counter() - started < 5
