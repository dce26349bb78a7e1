"""MLflow conventions in one place: URI, experiments, parent/child runs, tags, plots.

Everything goes through ``MlflowClient`` with explicit run ids, never through the
fluent "active run" state, so the same code works on the driver, in a Tune trial and
in a Ray Train worker (each its own process, each its own working directory).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from trainables.errors import ConfigError

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# Opening a new sqlite store logs two INFO lines (creating, then upgrading its tables)
# on every first command in a directory; the commands say where the store is instead.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)

PARENT_TAG = "mlflow.parentRunId"


class Tag:
    """Every tag name the project writes: the contract that ``compare``, ``export``,
    resumes and the benchmarks read runs by."""

    KIND = "orch.kind"  # sweep | trial | train | stage | ensemble | member | pack | instance | pack-tune | pack-trial
    MODEL = "orch.model"  # the model family
    DATASET = "orch.dataset"  # the data set's name
    DATA_SOURCE = "orch.data_source"  # JSON of the data.source.DataSource a run or sweep read
    DATA_CHECKSUM = "orch.data_checksum"  # the first 16 hex digits of the data's sha256
    SEED = "orch.seed"
    CONFIG_DIGEST = "orch.config_digest"  # finds runs of one configuration
    GIT_REVISION = "orch.git_revision"  # the code version
    ERROR = "orch.error"  # a failed run's error line
    # sweeps and their trials
    SWEEP = "orch.sweep"  # a sweep's (or ensemble's) name, on the parent and its children
    TRIAL = "orch.trial_id"  # Tune's trial id, on a trial's run
    COMPLETE = "orch.complete"  # "1" once a trial logged its final result: a resume does not redo it
    METRIC = "orch.metric"  # on a sweep's parent run: the metric its trials were ranked on
    SEARCH = "orch.search"
    SCHEDULER = "orch.scheduler"
    SPACE = "orch.space"
    BEST_TRIAL = "orch.best_trial"
    RESUME = "orch.resume"  # on an interrupted sweep: the command that resumes it
    STOPPED_EARLY = "orch.stopped_early"  # a trial the scheduler stopped
    STAGE = "orch.stage"  # a stage run of a multi-stage fit
    STAGE_INDEX = "orch.stage_index"
    # ensembles
    MEMBER_RANK = "orch.member_rank"  # the rank (0 = best) of the configuration a member trains
    SOURCE_SWEEP = "orch.source_sweep"  # the sweep an ensemble took its configurations from
    MODEL_URI = "orch.model_uri"  # the exported model
    # packing
    STRATEGY = "orch.strategy"
    CONSTRAINTS = "orch.constraints"
    CLASS = "orch.class"  # the BR class (or file) an instance run belongs to
    BEST_INSTANCE = "orch.best_instance"


MAX_PARAM_CHARS = 6000
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def resolve_tracking_uri(explicit: str | None = None) -> str:
    """The absolute tracking URI: explicit, else MLFLOW_TRACKING_URI, else ./mlflow.db.

    MLflow's own default is a *relative* sqlite path, which would land in every Tune
    trial's private working directory; resolving it here on the driver avoids that.
    """
    uri = explicit or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if not uri:
        return f"sqlite:///{Path.cwd().resolve() / 'mlflow.db'}"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{Path(uri[len('sqlite:///'):]).resolve()}"
    if "://" not in uri:
        return Path(uri).resolve().as_uri()
    return uri


@functools.lru_cache(maxsize=8)
def client(uri: str) -> MlflowClient:
    """One client per URI and process (creating one opens the store)."""
    return MlflowClient(tracking_uri=uri)


def ensure_experiment(uri: str, name: str) -> str:
    """The id of experiment ``name``, creating it (with an artifact root) if needed."""
    c = client(uri)
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            c.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    artifact_location = None
    if uri.startswith("sqlite:"):
        # Keep artifacts next to the store rather than in the current directory.
        store = Path(uri[len("sqlite:///"):])
        artifact_location = (store.parent / "mlartifacts").as_uri()
    return c.create_experiment(name, artifact_location=artifact_location)


@functools.lru_cache(maxsize=1)
def git_revision() -> str:
    """The code version: git commit (+ "-dirty"), or 'unknown' outside a checkout."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
            text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def config_digest(config: Mapping[str, Any]) -> str:
    """A short stable hash of a flat config, to find runs of the same configuration."""
    blob = json.dumps(dict(config), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def start_run(
    uri: str,
    experiment_id: str,
    run_name: str,
    tags: Mapping[str, str],
    parent_run_id: str | None = None,
) -> str:
    """Create a run (a child when ``parent_run_id`` is given) and return its id."""
    all_tags = {Tag.GIT_REVISION: git_revision(), **tags}
    if parent_run_id:
        all_tags[PARENT_TAG] = parent_run_id
    run = client(uri).create_run(experiment_id, run_name=run_name, tags=all_tags)
    return run.info.run_id


def children(uri: str, parent: Any, status: str | None = None, max_results: int = 5000) -> list[Any]:
    """The child runs of ``parent`` (a Run), optionally only those with ``status``."""
    query = f"tags.`{PARENT_TAG}` = '{parent.info.run_id}'"
    if status:
        query += f" and attributes.status = '{status}'"
    return client(uri).search_runs([parent.info.experiment_id], filter_string=query, max_results=max_results)


def find_child(uri: str, experiment_id: str, parent_run_id: str, key: str, value: str) -> str | None:
    """The id of the parent's child run whose tag ``key`` equals ``value``, if any.

    Used on resume so that an interrupted trial continues its run instead of
    creating a duplicate.
    """
    runs = client(uri).search_runs(
        [experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}' and tags.`{key}` = '{value}'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def find_parent(uri: str, name_or_id: str, kinds: tuple[str, ...], flag: str) -> Any:
    """The parent run of a sweep or an ensemble (``kinds``), by run id or by name; a
    ConfigError naming ``flag`` (the option the user gave) when there is none."""
    c = client(uri)
    try:
        run = c.get_run(name_or_id)
        if run.data.tags.get(Tag.KIND) in kinds:
            return run
    except Exception:  # noqa: BLE001 - not a run id: look it up by name
        pass
    wanted = " or ".join(kinds)
    for kind in kinds:
        runs = c.search_runs([e.experiment_id for e in c.search_experiments()],
                             filter_string=f"tags.`{Tag.SWEEP}` = '{name_or_id}' and tags.`{Tag.KIND}` = '{kind}'",
                             max_results=1)
        if runs:
            return runs[0]
    raise ConfigError(f"{flag}: no {wanted} run named or with id {name_or_id!r} in {uri}")


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:MAX_PARAM_CHARS]


def log_params(uri: str, run_id: str, params: Mapping[str, Any]) -> None:
    """Log params, skipping keys the run already holds (a resumed run re-logs them)."""
    c = client(uri)
    existing = c.get_run(run_id).data.params
    fresh = [Param(k, _param_value(v)) for k, v in params.items() if k not in existing]
    for i in range(0, len(fresh), 100):
        c.log_batch(run_id, params=fresh[i:i + 100])


def log_metrics(uri: str, run_id: str, metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log the finite numeric values of ``metrics`` at ``step`` (NaN/inf are skipped)."""
    now = int(time.time() * 1000)
    items = [
        Metric(k, float(v), now, step or 0)
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
    ]
    for i in range(0, len(items), 500):
        client(uri).log_batch(run_id, metrics=items[i:i + 500])


def set_tags(uri: str, run_id: str, tags: Mapping[str, Any]) -> None:
    """Set string tags on a run."""
    client(uri).log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])


def log_dataset(uri: str, run_id: str, name: str, digest: str, source: str, schema: Mapping[str, Any] | None = None,
                context: str = "training") -> None:
    """Record the data set a run read with MLflow's dataset tracking (name, digest,
    source, schema), so the UI's Datasets column and ``search_runs`` show it.

    ``source`` is a path or URL; ``schema`` the columns and keys that describe its
    layout. The same (name, digest) logged twice to one run is stored once.
    """
    dataset = Dataset(name=name, digest=(digest or "unknown")[:36], source_type="local" if "://" not in source
                      else source.split("://", 1)[0], source=json.dumps({"uri": source}),
                      schema=json.dumps(dict(schema or {}), default=str))
    client(uri).log_inputs(run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", context)])])


def log_figure(uri: str, run_id: str, figure: Any, artifact_file: str) -> None:
    """Log a matplotlib figure as a PNG artifact and close it."""
    import matplotlib.pyplot as plt

    client(uri).log_figure(run_id, figure, artifact_file)
    plt.close(figure)


def log_dict(uri: str, run_id: str, payload: Mapping[str, Any], artifact_file: str) -> None:
    """Log a JSON-serialisable mapping as an artifact."""
    client(uri).log_dict(run_id, dict(payload), artifact_file)


def log_artifact_dir(uri: str, run_id: str, local_dir: str | Path, artifact_path: str | None = None) -> None:
    """Upload a local directory's files under ``artifact_path``."""
    client(uri).log_artifacts(run_id, str(local_dir), artifact_path)


def log_text(uri: str, run_id: str, text: str, artifact_file: str) -> None:
    """Log a text artifact."""
    client(uri).log_text(run_id, text, artifact_file)


def end_run(uri: str, run_id: str, status: str = "FINISHED", error: str | None = None) -> None:
    """Terminate a run with FINISHED / FAILED / KILLED, recording an error line if any."""
    if error:
        set_tags(uri, run_id, {Tag.ERROR: error})
    client(uri).set_terminated(run_id, status=status)


def ui_hint(uri: str) -> str:
    """The command a user runs to look at the results."""
    return f"mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000"


def scratch_dir(prefix: str) -> Path:
    """A fresh temporary directory (checkpoints, reports) that the caller cleans up."""
    return Path(tempfile.mkdtemp(prefix=prefix))
