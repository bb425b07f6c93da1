"""The Unity Catalog workspace stand-in, proven with the real clients that will talk to it.

MLflow 3.17's UC registry client (``registry_uri="databricks-uc"``) and
databricks-sdk run unpatched against :mod:`tests.support.uc_workspace`, with
tracking on the session's real mlflow server. Besides proving the stand-in,
these tests pin down how the UC client behaves, which reghook relies on:

- with OSS tracking it rewrites ``source="models:/m-…"`` to the logged model's
  artifact location and drops ``model_id``; tags given at creation arrive;
- it never waits for ``READY``, whatever ``await_creation_for`` says;
- it checks the signature only after the registered model exists, so the
  fluent ``register_model`` leaves an empty model behind;
- search results carry neither tags nor aliases; ``get`` results do.

Tests without the ``mlflow`` mark speak plain HTTP (or databricks-sdk) only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import mlflow
import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service import ml
from databricks.sdk.service.jobs import RunResultState
from mlflow.exceptions import MlflowException, RestException

from tests.support.churn import LoggedRun, log_churn_run
from tests.support.uc_registry import FAILURE_MESSAGE
from tests.support.uc_workspace import UC, UcWorkspace, uc_workspace

MODEL = "main.ml.churn"
SIGNATURE_MISSING = "Model passed for registration did not contain any signature metadata."


@dataclass(frozen=True)
class Logged:
    """A logged churn run and its MLflow 3 logged model."""

    run: LoggedRun
    model_id: str
    artifact_location: str


def _logged(tracking_uri: str, experiment: str, *, with_signature: bool) -> Logged:
    run = log_churn_run(tracking_uri, experiment, good=True, with_signature=with_signature)
    [model] = mlflow.MlflowClient(tracking_uri=tracking_uri).search_logged_models(
        experiment_ids=[run.experiment_id], filter_string=f"source_run_id='{run.run_id}'")
    return Logged(run, model.model_id, model.artifact_location)


@pytest.fixture(scope="module")
def signed(mlflow_server: Any) -> Logged:
    """A run whose model has a signature (UC accepts it)."""
    return _logged(mlflow_server.url, f"uc-{uuid.uuid4().hex[:8]}", with_signature=True)


@pytest.fixture(scope="module")
def unsigned(mlflow_server: Any) -> Logged:
    """A run whose model has no signature (UC refuses it)."""
    return _logged(mlflow_server.url, f"uc-{uuid.uuid4().hex[:8]}", with_signature=False)


@contextmanager
def _serve(monkeypatch: pytest.MonkeyPatch, **options: Any) -> Iterator[UcWorkspace]:
    """A stand-in with ``options``, pointed at by the Databricks variables."""
    with uc_workspace(**options) as workspace:
        for key, value in workspace.env().items():
            monkeypatch.setenv(key, value)
        yield workspace


@pytest.fixture
def workspace(monkeypatch: pytest.MonkeyPatch) -> Iterator[UcWorkspace]:
    """A fresh stand-in that ``DATABRICKS_HOST``/``DATABRICKS_TOKEN`` point at."""
    with _serve(monkeypatch) as served:
        yield served


def _uc(mlflow_server: Any | None = None) -> mlflow.MlflowClient:
    """The UC registry client, with tracking on the session's server (or nowhere, if unused)."""
    tracking = mlflow_server.url if mlflow_server else "http://127.0.0.1:9"
    return mlflow.MlflowClient(tracking_uri=tracking, registry_uri="databricks-uc")


def _register(client: mlflow.MlflowClient, logged: Logged, **kwargs: Any) -> Any:
    """What reghook does: the logged model's URI and id, tags at creation, no waiting."""
    return client._create_model_version(
        name=MODEL, source=f"models:/{logged.model_id}", run_id=logged.run.run_id,
        tags={"reghook.state": "pending"}, await_creation_for=0, model_id=logged.model_id, **kwargs)


@pytest.mark.mlflow
def test_a_signed_model_registers_uploads_its_files_and_takes_tags_and_aliases(
        mlflow_server: Any, workspace: UcWorkspace, signed: Logged) -> None:
    client = _uc(mlflow_server)
    client.create_registered_model(MODEL)
    created = _register(client, signed)

    assert (created.version, created.status) == ("1", "READY")
    [create] = workspace.requests_to("model-versions/create")
    assert create.json == {"name": MODEL, "source": signed.artifact_location,
                           "run_id": signed.run.run_id, "feature_deps": "",
                           "tags": [{"key": "reghook.state", "value": "pending"}]}
    assert create.answer["model_version"]["status"] == "PENDING_REGISTRATION"
    [finalize] = workspace.requests_to("model-versions/finalize")
    assert finalize.answer["model_version"]["status"] == "READY"
    files = workspace.files_of(MODEL, 1)
    assert {"MLmodel", "model.skops", "requirements.txt"} <= set(files)
    assert b"signature:" in files["MLmodel"]

    client.set_model_version_tag(MODEL, "1", "reghook.verdict", "pass")
    client.set_registered_model_alias(MODEL, "champion", "1")
    got = client.get_model_version(MODEL, "1")
    assert (got.source, got.model_id, got.run_id) == (signed.artifact_location, "", signed.run.run_id)
    assert got.tags == {"reghook.state": "pending", "reghook.verdict": "pass"}
    assert got.aliases == ["champion"]
    assert client.get_model_version_by_alias(MODEL, "champion").version == "1"
    assert client.get_registered_model(MODEL).aliases == {"champion": "1"}
    assert workspace.model(MODEL)["aliases"] == [{"alias": "champion", "version": "1"}]

    [found] = client.search_model_versions(f"run_id='{signed.run.run_id}'")
    assert (found.name, found.version, found.status) == (MODEL, "1", "READY")
    # A trap: on a search result ``tags`` and ``aliases`` are methods (truthy!) that raise.
    assert callable(found.tags) and callable(found.aliases)
    with pytest.raises(Exception, match="do not have tags"):  # MLflow raises a bare Exception
        found.tags()
    [search] = workspace.requests_to("model-versions/search")
    assert search.query == {"filter": f"run_id='{signed.run.run_id}'", "max_results": "10000"}
    open_paths = ("/.well-known/databricks-config", "/presigned/")
    assert all(r.headers.get("Authorization") == f"Bearer {workspace.token}"
               for r in workspace.requests if not r.path.startswith(open_paths))


@pytest.mark.mlflow
def test_a_registered_version_loads_back_by_alias(
        mlflow_server: Any, workspace: UcWorkspace, signed: Logged,
        monkeypatch: pytest.MonkeyPatch) -> None:
    client = _uc(mlflow_server)
    client.create_registered_model(MODEL)
    _register(client, signed)
    workspace.set_alias(MODEL, "champion", 1)  # someone in Catalog Explorer
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "databricks-uc")

    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")

    assert model.metadata.signature is not None
    assert workspace.requests_to("fs/create-download-url")
    assert workspace.requests_to(f"fs/directories/Models/{MODEL.replace('.', '/')}/1/", "GET")


@pytest.mark.mlflow
def test_a_model_without_signature_is_refused_after_its_registered_model_was_created(
        mlflow_server: Any, workspace: UcWorkspace, unsigned: Logged,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The behaviour reghook must avoid: check the signature before creating anything."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "databricks-uc")

    with pytest.raises(MlflowException, match=SIGNATURE_MISSING) as refused:
        mlflow.register_model(f"models:/{unsigned.model_id}", MODEL)

    assert type(refused.value) is MlflowException
    assert refused.value.error_code == "INTERNAL_ERROR"
    assert workspace.model(MODEL)["name"] == MODEL  # left behind, empty
    assert not workspace.registry.model(MODEL).versions
    assert not workspace.requests_to("model-versions/create")


@pytest.mark.mlflow
def test_the_client_returns_a_pending_version_and_never_waits_for_ready(
        mlflow_server: Any, signed: Logged, monkeypatch: pytest.MonkeyPatch) -> None:
    with _serve(monkeypatch, ready_delay_s=2) as workspace:
        client = _uc(mlflow_server)
        client.create_registered_model(MODEL)
        started = time.monotonic()
        created = _register(client, signed)
        waited = client.create_model_version(MODEL, signed.artifact_location, signed.run.run_id,
                                             await_creation_for=300)

        assert time.monotonic() - started < 2
        assert created.status == waited.status == "PENDING_REGISTRATION"
        assert client.get_model_version(MODEL, "1").status == "PENDING_REGISTRATION"
        deadline = time.monotonic() + 10
        while {client.get_model_version(MODEL, v).status for v in ("1", "2")} != {"READY"}:
            assert time.monotonic() < deadline, "the versions never became READY"
            time.sleep(0.2)
        assert workspace.version(MODEL, 2)["status"] == "READY"


@pytest.mark.mlflow
def test_a_failed_registration_shows_its_status_message(
        mlflow_server: Any, signed: Logged, monkeypatch: pytest.MonkeyPatch) -> None:
    with _serve(monkeypatch, fail_registration=True) as workspace:
        client = _uc(mlflow_server)
        client.create_registered_model(MODEL)
        created = _register(client, signed)
        workspace.fail_registration = "Storage credential expired."
        second = _register(client, signed)

        got = client.get_model_version(MODEL, created.version)
        assert (got.status, got.status_message) == ("FAILED_REGISTRATION", FAILURE_MESSAGE)
        assert client.get_model_version(MODEL, second.version).status_message == \
            "Storage credential expired."


@pytest.mark.mlflow
def test_names_must_have_three_levels_and_unknown_things_are_404(
        mlflow_server: Any, workspace: UcWorkspace, signed: Logged) -> None:
    client = _uc(mlflow_server)
    client.create_registered_model(MODEL)

    with pytest.raises(MlflowException, match="specify all three levels") as on_create:
        client.create_registered_model("ml.churn")
    # The client re-raises with a legacy-registry hint and loses the code on the way.
    assert type(on_create.value) is MlflowException
    assert on_create.value.error_code == "INTERNAL_ERROR"
    assert "Model Registry URI to 'databricks' (legacy)" in on_create.value.message
    with pytest.raises(RestException, match="specify all three levels") as on_version:
        client.create_model_version("ml.churn", signed.artifact_location, signed.run.run_id)
    assert on_version.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(RestException) as twice:
        client.create_registered_model(MODEL)
    assert twice.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(RestException) as unknown:
        client.get_model_version(MODEL, "7")
    assert unknown.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert [r.status for r in workspace.requests_to("registered-models/create")] == [200, 400, 400]


def test_search_takes_exactly_one_condition_and_no_order(workspace: UcWorkspace) -> None:
    client = _uc()
    for refused in (f"name='{MODEL}' AND run_id='abc'", "tags.verdict='pass'", "version_number > 1"):
        with pytest.raises(RestException) as error:
            client.search_model_versions(refused)
        assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="'order_by' is unsupported"):  # refused client-side
        client.search_model_versions(f"name='{MODEL}'", order_by=["version_number DESC"])
    assert len(workspace.requests_to("model-versions/search")) == 3


def test_databricks_sdk_reads_job_runs_and_creates_registry_webhooks(workspace: UcWorkspace) -> None:
    workspace.add_job_run(11, 22, task_run_ids=(33,))
    sdk = WorkspaceClient()

    run = sdk.jobs.get_run(11)
    assert (run.job_id, [t.run_id for t in run.tasks or []]) == (22, [33])
    assert run.state and run.state.result_state == RunResultState.SUCCESS
    with pytest.raises(NotFound):
        sdk.jobs.get_run(12)
    created = sdk.model_registry.create_webhook(
        events=[ml.RegistryWebhookEvent.MODEL_VERSION_CREATED],
        http_url_spec=ml.HttpUrlSpec(url="https://reghook.example/databricks", secret="s"))
    assert created.webhook and created.webhook.id
    assert workspace.webhooks[0]["http_url_spec"]["url"] == "https://reghook.example/databricks"
    assert workspace.requests_to("/api/2.2/jobs/runs/get")[0].query == {"run_id": "11"}


def _get(workspace: UcWorkspace, path: str, token: str | None = None, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or workspace.token}"}
    return requests.get(f"{workspace.url}{path}", params=params, headers=headers, timeout=10)


def test_every_api_call_needs_the_bearer_token_but_host_discovery_does_not(
        workspace: UcWorkspace) -> None:
    workspace.register_by_hand(MODEL)

    anonymous = requests.get(f"{workspace.url}{UC}registered-models/get", params={"name": MODEL},
                             timeout=10)
    wrong = _get(workspace, f"{UC}registered-models/get", token="nope", name=MODEL)
    discovery = requests.get(f"{workspace.url}/.well-known/databricks-config", timeout=10)

    assert (anonymous.status_code, anonymous.json()["error_code"]) == (401, "UNAUTHENTICATED")
    assert wrong.status_code == 401
    assert discovery.json() == {"workspace_id": workspace.workspace_id}
    assert _get(workspace, f"{UC}registered-models/get", name=MODEL).ok


def test_search_pages_newest_first_without_tags_or_aliases(workspace: UcWorkspace) -> None:
    for _ in range(3):
        workspace.register_by_hand(MODEL, run_id="r1", tags={"by": "hand"})
    workspace.set_alias(MODEL, "champion", 3)

    first = _get(workspace, f"{UC}model-versions/search", filter="run_id = 'r1'", max_results=2).json()
    rest = _get(workspace, f"{UC}model-versions/search", filter="run_id = 'r1'", max_results=2,
                page_token=first["next_page_token"]).json()

    versions = [v["version"] for v in first["model_versions"] + rest["model_versions"]]
    assert versions == ["3", "2", "1"] and "next_page_token" not in rest
    assert not any("tags" in v or "aliases" in v for v in first["model_versions"])
    got = _get(workspace, f"{UC}model-versions/get", name=MODEL, version="3").json()["model_version"]
    assert got["aliases"] == [{"alias": "champion", "version": "3"}]
    assert got["tags"] == [{"key": "by", "value": "hand"}]


def test_stages_are_refused_and_unknown_endpoints_are_404(workspace: UcWorkspace) -> None:
    stage = requests.post(f"{workspace.url}{UC}model-versions/transition-stage",
                          json={"name": MODEL, "version": "1", "stage": "Production"},
                          headers={"Authorization": f"Bearer {workspace.token}"}, timeout=10)
    unknown = _get(workspace, "/api/2.0/unheard-of")

    assert (stage.status_code, stage.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, "ENDPOINT_NOT_FOUND")


def test_names_are_stored_lower_case_and_aliases_follow_deleted_versions(
        workspace: UcWorkspace) -> None:
    version = workspace.register_by_hand("Main.ML.Churn")
    workspace.set_alias(MODEL, "champion", version)
    workspace.set_tag(MODEL, version, "k", "v")

    assert workspace.model("MAIN.ml.churn")["name"] == MODEL
    assert workspace.version(MODEL, version)["tags"] == [{"key": "k", "value": "v"}]
    workspace.registry.delete_version(MODEL, version)
    assert workspace.model(MODEL)["aliases"] == []
