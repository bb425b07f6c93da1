"""deploy/ (deploy/README.md): manifests that parse, and the properties a platform team checks first."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).parents[2] / "deploy"
SERVER_ONLY = ("REGHOOK_DATABASE_URL", "DATABRICKS_TOKEN", "DATABRICKS_HOST", "SLACK_WEBHOOK_URL")


def manifests() -> dict[str, list[dict]]:
    return {str(path.relative_to(DEPLOY)): [d for d in yaml.safe_load_all(path.read_text()) if d]
            for path in sorted(DEPLOY.rglob("*.yaml"))}


def by_kind(kind: str) -> list[dict]:
    return [doc for docs in manifests().values() for doc in docs if doc.get("kind") == kind]


def deployment(component: str) -> dict:
    [found] = [d for d in by_kind("Deployment")
               if d["metadata"]["labels"]["app.kubernetes.io/component"] == component]
    return found


def secret_refs(pod_spec: dict) -> set[str]:
    return {ref["secretRef"]["name"] for c in pod_spec["containers"] for ref in c.get("envFrom", [])}


def test_every_manifest_parses():
    assert len(manifests()) >= 10


def test_no_secret_is_applied_from_the_repository():
    assert by_kind("Secret") == []
    for kustomization in DEPLOY.rglob("kustomization.yaml"):
        assert "secretGenerator" not in yaml.safe_load(kustomization.read_text())


def test_web_pods_hold_no_registry_or_chat_credentials():
    web = deployment("web")["spec"]["template"]["spec"]
    assert secret_refs(web) == {"reghook-store", "reghook-web"}
    web_keys = (DEPLOY / "k8s/secrets/web.env.example").read_text()
    assert not [key for key in SERVER_ONLY if key in web_keys]
    assert secret_refs(deployment("worker")["spec"]["template"]["spec"]) == {
        "reghook-store", "reghook-worker"}


def test_two_workers_with_probes_and_disruption_budgets():
    worker = deployment("worker")
    assert worker["spec"]["replicas"] == 2
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"name": "REGHOOK_WORKER_PORT", "value": "9090"} in container["env"]
    budgets = {b["metadata"]["name"]: b["spec"]["minAvailable"] for b in by_kind("PodDisruptionBudget")}
    assert budgets == {"reghook-web": 1, "reghook-worker": 1}
    web = deployment("web")["spec"]["template"]["spec"]["containers"][0]
    assert web["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]


def test_migrations_run_as_a_presync_hook_job():
    [job] = by_kind("Job")
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
    assert secret_refs(job["spec"]["template"]["spec"]) == {"reghook-store"}


def test_the_base_image_is_pinned_and_the_image_installs_the_lock():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm" in dockerfile
    assert "--constraint /tmp/requirements.lock" in dockerfile
    assert "FROM python:3.11-slim" not in dockerfile


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders kustomize")
def test_kustomize_renders_everything():
    rendered = subprocess.run(["kubectl", "kustomize", str(DEPLOY / "k8s")], capture_output=True,
                              text=True, check=True, timeout=60).stdout
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered) if d)
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "Job", "PodDisruptionBudget",
                     "PodDisruptionBudget", "Service"]
