"""The evidence archive: the raw responses the live sources received, redacted, kept with the postmortem so
the evidence outlives chat and paging retention.

JSON is redacted value by value and written back as JSON, so an archived page stays a valid response; any
other text is redacted line by line. Archiving never loses the doc: a failure is reported, not raised.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ops_postmortem.connectors.base import DocumentStore
from ops_postmortem.errors import PostmortemError
from ops_postmortem.model import DocRef, RawEvidence, Redaction
from ops_postmortem.redaction import Redactor


@dataclass(frozen=True)
class ArchiveResult:
    locations: tuple[str, ...] = ()
    redactions: tuple[Redaction, ...] = ()
    error: str | None = None  # why nothing was archived


def redact_evidence(raw: Sequence[RawEvidence], redactor: Redactor | None = None) -> dict[str, bytes]:
    """Every file redacted of secrets, by name; a later file of the same name wins."""
    redactor = redactor or Redactor()
    return {item.name: _redact_file(redactor, item) for item in raw}


def archive_evidence(store: DocumentStore, ref: DocRef, raw: Sequence[RawEvidence]) -> ArchiveResult:
    redactor = Redactor()
    files = redact_evidence(raw, redactor)
    if not files:
        return ArchiveResult()
    try:
        locations = store.archive(ref, files)
    except (PostmortemError, OSError) as exc:
        return ArchiveResult(redactions=redactor.redactions, error=str(exc))
    return ArchiveResult(tuple(locations), redactor.redactions)


def _redact_file(redactor: Redactor, item: RawEvidence) -> bytes:
    source = item.name.split("/", 1)[0]
    text = item.data.decode("utf-8", errors="replace")
    try:
        document = json.loads(text)
    except ValueError:
        lines = text.splitlines(keepends=True)
        return "".join(
            redactor.redact(line, source=source, location=f"{item.name} line {n}")
            for n, line in enumerate(lines, start=1)
        ).encode()
    redacted = _redact_value(redactor, document, source, item.name, "")
    return (json.dumps(redacted, ensure_ascii=False, indent=1) + "\n").encode()


def _redact_value(redactor: Redactor, value: Any, source: str, name: str, path: str) -> Any:
    if isinstance(value, str):
        return redactor.redact(value, source=source, location=f"{name} {path or '$'}")
    if isinstance(value, list):
        return [_redact_value(redactor, v, source, name, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _redact_value(redactor, v, source, name, f"{path}.{k}") for k, v in value.items()}
    return value
