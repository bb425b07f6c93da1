"""Registry state for bench/govern.py, made before anything is timed.

Runs are logged first (a real scikit-learn model each, ~0.4 s apiece), then
each registered model gets its champion, and the "large" models get 1,000
filler versions. All of it happens before reghook subscribes to the server,
so none of it reaches reghook as a webhook.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import yaml

from tests.support.churn import churn_frame
from tests.support.harness import policy_yaml

ARTIFACT_PATH = "churn_pipeline_model"
CHAMPION = "champion"
STAGING = "staging"


@dataclass(frozen=True)
class Run:
    """A logged run and its logged model (the source a version is registered from)."""

    run_id: str
    experiment_id: str
    model_id: str

    @property
    def source(self) -> str:
        """``models:/m-…``, as MLflow 3 registers a logged model."""
        return f"models:/{self.model_id}"


def log_runs(client: Any, tracking_uri: str, experiment: str, count: int) -> list[Run]:
    """``count`` runs of one passing churn model, logged as tests/support/churn.py logs them.

    One balanced logistic regression is trained once and logged ``count``
    times: the same metrics, dataset, signature and ``git_commit`` tag each
    time, so every run passes every gate (the champion comparison included)
    and every governed version ends tagged ``passed`` *and* aliased. Explicit
    pip requirements: inferring them costs seconds per run (a subprocess).
    """
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import precision_score, recall_score
    from sklearn.model_selection import train_test_split

    frame = churn_frame(seed=7)
    x, y = frame.drop(columns=["churned"]), frame["churned"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=7,
                                                        stratify=y)
    model = LogisticRegression(class_weight="balanced", max_iter=500).fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {"recall": float(recall_score(y_test, predicted, zero_division=0)),
               "precision": float(precision_score(y_test, predicted, zero_division=0))}
    signature = infer_signature(x_train, model.predict(x_train))
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    mlflow.set_tracking_uri(tracking_uri)
    dataset = mlflow.data.from_pandas(frame, source="s3://quickbite/churn/train.parquet",
                                      name="churn_train", targets="churned")
    runs = []
    for _ in range(count):
        # mlflow prints "View run at ..." lines and warns about its own internals.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mlflow.start_run(experiment_id=experiment_id) as run:
                mlflow.log_input(dataset, context="training")
                mlflow.log_metrics(metrics)
                mlflow.set_tags({"git_commit": "3f2c1ab"})
                logged = mlflow.sklearn.log_model(
                    model, name=ARTIFACT_PATH, signature=signature,
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        runs.append(Run(run.info.run_id, experiment_id, logged.model_id))
    return runs


def register(client: Any, model: str, run: Run, *, create_model: bool = False) -> str:
    """One version of ``model`` from ``run`` (the registered model created first if asked)."""
    if create_model:
        client.create_registered_model(model)
    version = client.create_model_version(model, run.source, run_id=run.run_id,
                                          model_id=run.model_id, await_creation_for=0)
    return str(version.version)


def crown(client: Any, model: str, run: Run) -> str:
    """Create ``model`` with v1 from ``run`` holding the champion alias (set by hand)."""
    version = register(client, model, run, create_model=True)
    client.set_registered_model_alias(model, CHAMPION, version)
    return version


def fill(make_client: Any, model: str, run: Run, count: int, threads: int = 4,
         attempts: int = 3) -> float:
    """Add ``count`` versions of ``model`` from one run, ``threads`` at a time; seconds taken.

    The versions come from a run no timed event uses, so reghook's lookup by
    run id never sees them, while "list every version" has to page through all.
    """
    started = time.perf_counter()
    local: dict[int, Any] = {}

    def one(_i: int) -> None:
        import threading

        key = threading.get_ident()
        if key not in local:
            local[key] = make_client()
        for attempt in range(1, attempts + 1):
            try:
                register(local[key], model, run)
                return
            except Exception:
                if attempt == attempts:
                    raise
                time.sleep(0.1 * attempt)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - started


def policy(models: list[str], experiment: str) -> str:
    """Every gate on, champion compared by alias, and no ``promotion`` block (no guard)."""
    entries = []
    for model in models:
        entry = yaml.safe_load(policy_yaml(model, experiment))["models"][0]
        entry.pop("promotion")
        entry["gates"]["champion"]["alias"] = CHAMPION
        entry["on_pass"]["aliases"] = [STAGING]
        entries.append(entry)
    return yaml.safe_dump({"models": entries})


def setup_registry(tracking_uri: str, models: dict[str, tuple[str, str]], experiment: str,
                   plan: dict[str, Any], log: Any) -> dict[str, Any]:
    """Runs, champions and filler versions; how long each step took."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    per_model = plan["warmup"] + plan["events"]
    started = time.perf_counter()
    # Champion and filler first, the by-hand sequence's "latest run" last.
    logged = log_runs(client, tracking_uri, experiment, 3 + 2 * per_model)
    champion, filler, latest = logged[0], logged[1], logged[-1]
    runs = {"small": logged[2:2 + per_model], "large": logged[2 + per_model:2 + 2 * per_model]}
    logged_s = time.perf_counter() - started
    log(f"logged {len(logged)} runs in {logged_s:.1f} s")
    started = time.perf_counter()
    for pair in models.values():
        for model in pair:
            crown(client, model, champion)
    crowned_s = time.perf_counter() - started
    fills = {}
    for model in models["large"]:
        fills[model] = round(fill(lambda: MlflowClient(tracking_uri=tracking_uri), model, filler,
                                  plan["versions"], threads=4), 1)
        log(f"{model}: {plan['versions']} filler versions in {fills[model]} s (4 threads)")
    counts = {model: len(client.search_model_versions(f"name='{model}'"))
              for pair in models.values() for model in pair}
    return {"runs": runs, "experiment_id": champion.experiment_id, "latest_run": latest.run_id,
            "setup": {"runs_logged": len(logged), "log_runs_s": round(logged_s, 1),
                      "champions_s": round(crowned_s, 2), "fill_s": fills,
                      "versions_before_warmup": counts}}
