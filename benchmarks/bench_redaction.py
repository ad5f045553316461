"""Measure secret redaction on incident-sized chat: throughput on clean text and on text with secrets,
and the same for detect-secrets 1.5.0 (the evidence behind not calling it at runtime).

Run: /work/venv/bin/python benchmarks/bench_redaction.py [--messages 100000]
Times are CPU seconds of this process (time.process_time), so other work on a shared machine does not
inflate them.
Prints two tables: speed on a synthetic corpus shaped like incident chat (ids, SHAs, pod names, URLs),
and detection quality on the hand-written positive/negative corpus of tests/unit/test_redaction.py.
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ops_postmortem.redaction import Redactor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for the test corpus

CLEAN_TEMPLATES = (
    "deployed {svc} {sha} to prod, error rate back to {pct}%",
    "request id {uuid} failed with 502 from {svc}",
    "pod {svc}-{hex9}-{pod5} OOMKilled again at {ts}",
    "see https://grafana.example.com/d/{hex9}/{svc}?orgId=1&from=now-6h&to=now&var-pod={svc}-{hex9}-{pod5}",
    "rolling back to v{ver} - the token refresh path in {svc} looks broken",
    "trace {hex32} span {hex16} shows the timeout in the password reset flow",
    "who has the key for the {svc} runbook? <https://wiki.example.com/x/{hex9}|runbook>",
    "image sha256:{hex64} pulled, {svc} pods restarting",
    "ack, I'm on it - paging the {svc} on-call",
    "the secret rotation job ran at {ts}, nothing unusual",
    "PR https://github.com/acme/{svc}/pull/{num} reverts commit {sha}",
    "CPU at {pct}% on node ip-10-0-{num}-{num}.ec2.internal",
)

WORDS = ("checkout-api", "payments", "ledger-worker", "auth-gateway", "search-indexer", "cart")


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def clean_corpus(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    hexd, lower = "0123456789abcdef", string.ascii_lowercase + string.digits
    out = []
    for i in range(n):
        out.append(
            CLEAN_TEMPLATES[i % len(CLEAN_TEMPLATES)].format(
                svc=rng.choice(WORDS),
                sha=_rand(rng, hexd, 40),
                uuid="-".join(_rand(rng, hexd, k) for k in (8, 4, 4, 4, 12)),
                hex9=_rand(rng, hexd, 9),
                hex16=_rand(rng, hexd, 16),
                hex32=_rand(rng, hexd, 32),
                hex64=_rand(rng, hexd, 64),
                pod5=_rand(rng, lower, 5),
                ts=f"2025-11-04T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z",
                ver=f"{rng.randrange(5)}.{rng.randrange(20)}.{rng.randrange(10)}",
                pct=rng.randrange(100),
                num=rng.randrange(1, 255),
            )
        )
    return out


def secret_corpus(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    b62 = string.ascii_letters + string.digits
    upper = string.ascii_uppercase + string.digits
    makers: tuple[Callable[[], str], ...] = (
        lambda: (
            "bot token is "
            + "xo"
            + "xb-"
            + f"{rng.randrange(10**10)}-{rng.randrange(10**12)}-"
            + _rand(rng, b62, 24)
        ),
        lambda: "use DATABASE_URL=postgres://app:" + _rand(rng, b62, 14) + "@db.internal:5432/app",
        lambda: "export AWS_ACCESS_KEY_ID=" + "AK" + "IA" + _rand(rng, upper, 16),
        lambda: "gh " + "gh" + "p_" + _rand(rng, b62, 36) + " leaked in the build log",
        lambda: 'config has "password": "' + _rand(rng, b62, 12) + '" for the replica',
        lambda: (
            "dump at https://b.s3.amazonaws.com/d.sql?X-Amz-Signature=" + _rand(rng, "0123456789abcdef", 64)
        ),
        lambda: (
            "curl -H 'Authorization: Bearer " + _rand(rng, b62, 40) + "' https://api.example.com/v1/orders"
        ),
        lambda: "api_key = " + _rand(rng, b62, 32),
    )
    return [makers[i % len(makers)]() for i in range(n)]


def time_redactor(texts: Sequence[str]) -> tuple[float, int]:
    redactor = Redactor()
    start = time.process_time()
    for i, text in enumerate(texts):
        redactor.redact(text, source="slack", location=f"slack {i} text")
    return time.process_time() - start, len(redactor.redactions)


def time_detect_secrets_file(texts: Sequence[str]) -> tuple[float, int]:
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    with default_settings(), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chat.txt"
        path.write_text("\n".join(texts) + "\n", encoding="utf-8")
        start = time.process_time()
        found = list(scan_file(str(path)))
        return time.process_time() - start, len({s.line_number for s in found})


def time_detect_secrets_adhoc(texts: Sequence[str]) -> tuple[float, int]:
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import default_settings

    with default_settings():
        start = time.process_time()
        flagged = sum(1 for text in texts if any(True for _ in scan_line(text)))
        return time.process_time() - start, flagged


def detect_secrets_flags(texts: Sequence[str]) -> list[bool]:
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    flags = []
    with default_settings(), tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(texts):
            path = Path(tmp) / f"{i}.txt"
            path.write_text(text + "\n", encoding="utf-8")
            flags.append(any(True for _ in scan_file(str(path))))
    return flags


def quality() -> None:
    from tests.unit.test_redaction import NEGATIVE, POSITIVE

    positives = [text for _, text, _ in POSITIVE]
    ours_neg = sum(Redactor().redact(t, source="s", location="s") != t for t in NEGATIVE)
    ours_pos = sum(Redactor().redact(t, source="s", location="s") != t for t in positives)
    ds_neg, ds_pos = sum(detect_secrets_flags(NEGATIVE)), sum(detect_secrets_flags(positives))
    print(f"\n{'engine':<26} {'false positives':>16} {'secrets caught':>16}")
    for engine, neg, pos in (
        ("ops_postmortem Redactor", ours_neg, ours_pos),
        ("detect-secrets scan_file", ds_neg, ds_pos),
    ):
        print(f"{engine:<26} {f'{neg}/{len(NEGATIVE)}':>16} {f'{pos}/{len(positives)}':>16}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="clean chat messages to redact")
    parser.add_argument("--ds-sample", type=int, default=2_000, help="messages given to detect-secrets")
    args = parser.parse_args()

    clean = clean_corpus(args.messages)
    dirty = secret_corpus(max(args.messages // 10, 1))
    ds_clean, ds_dirty = clean[: args.ds_sample], dirty[: args.ds_sample]
    rows: list[tuple[str, str, int, float, int]] = []
    for label, texts in (("clean", clean), ("with secrets", dirty)):
        seconds, hits = time_redactor(texts)
        rows.append(("ops_postmortem Redactor", label, len(texts), seconds, hits))
    for label, texts in (("clean", ds_clean), ("with secrets", ds_dirty)):
        seconds, hits = time_detect_secrets_file(texts)
        rows.append(("detect-secrets scan_file", label, len(texts), seconds, hits))
    adhoc = ds_clean[: max(args.ds_sample // 4, 1)]
    seconds, hits = time_detect_secrets_adhoc(adhoc)
    rows.append(("detect-secrets scan_line", "clean", len(adhoc), seconds, hits))

    print(
        f"{'engine':<26} {'text':<13} {'texts':>8} {'cpu s':>9} {'texts/s':>11} {'us/text':>8} {'hits':>7}"
    )
    for engine, label, n, seconds, hits in rows:
        rate, micros = n / seconds, seconds / n * 1e6
        print(f"{engine:<26} {label:<13} {n:>8} {seconds:>9.3f} {rate:>11,.0f} {micros:>8.1f} {hits:>7}")
    print("hits: secrets redacted (Redactor) or texts flagged (detect-secrets);")
    print("on clean text every hit is a false positive")
    quality()


if __name__ == "__main__":
    main()
