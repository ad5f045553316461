"""The Dockerfile and the Kubernetes CronJob say what the README promises: a slim Python 3.11 image running
`postmortem` as a non-root user, and a sync schedule that never overlaps, configured from a ConfigMap with
secrets from a Secret."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_postmortem.config import load_config
from ops_postmortem.connectors.github.tracker import GitHubTracker
from ops_postmortem.wiring import sync_state_path, ticket_tracker
from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
MANIFESTS = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "cronjob.yaml").read_text()))


def manifest(kind: str) -> dict[str, Any]:
    [found] = [m for m in MANIFESTS if m["kind"] == kind]
    return found


def instructions(name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in DOCKERFILE.splitlines() if line.startswith(f"{name} ")]


def test_the_image_is_slim_python_311_running_postmortem_as_non_root() -> None:
    assert instructions("FROM")[-1] == "python:3.11-slim"
    [user] = instructions("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) > 0  # numeric, so runAsNonRoot can check it
    assert instructions("ENTRYPOINT") == ['["postmortem"]']
    assert "useradd --uid 10001" in DOCKERFILE


def test_the_build_context_holds_what_the_image_copies() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = {
        part for line in instructions("COPY") if not line.startswith("--from") for part in line.split()[:-1]
    }
    assert copied <= allowed and all((ROOT / path).exists() for path in copied)


def test_the_cronjob_never_overlaps_and_runs_sync() -> None:
    cron = manifest("CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert re.fullmatch(r"[\d*/,-]+( [\d*/,-]+){4}", cron["spec"]["schedule"])
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["args"][-2:] == ["sync", "--json"] and container["args"][:2] == [
        "--config",
        "/config/postmortem.toml",
    ]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert pod["restartPolicy"] == "Never"


def test_config_from_a_configmap_and_secrets_from_a_secret_as_env() -> None:
    pod = manifest("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert volumes[mounts["/config"]]["configMap"]["name"] == manifest("ConfigMap")["metadata"]["name"]
    assert (
        volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"]
        == manifest("PersistentVolumeClaim")["metadata"]["name"]
    )
    assert [e["secretRef"]["name"] for e in container["envFrom"]] == ["postmortem-secrets"]
    assert "Secret" not in {m["kind"] for m in MANIFESTS}  # never committed


def test_the_configmaps_config_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "postmortem.toml"
    path.write_text(manifest("ConfigMap")["data"]["postmortem.toml"])
    monkeypatch.setenv("GITHUB_TOKEN", "github_pat_example")
    config = load_config(str(path))
    assert isinstance(ticket_tracker(config), GitHubTracker)
    assert config.local_dir == Path("/data/postmortems")
    assert sync_state_path(config) == Path("/data/.sync-state.json")
    assert re.findall(r"^token = (.*)$", path.read_text(), re.MULTILINE) == ['{ env = "GITHUB_TOKEN" }']
