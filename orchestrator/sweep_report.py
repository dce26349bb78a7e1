"""The end of a sweep: every trial's run closed with the right status, the best
trial's config and metrics on the parent run with its plots copied up, a plot of the
metric against each searched parameter, and the summary the CLI prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator import tracking
from orchestrator.config import SweepOptions, ranking
from orchestrator.tracking import Tag
from search_spaces.space import LogUniform


def _close_orphans(uri: str, experiment_id: str, parent_run_id: str, errors: dict[str, str],
                   interrupted: bool) -> None:
    """Child runs left RUNNING: errored -> FAILED; interrupted -> KILLED (a resume
    reuses them); otherwise the scheduler stopped them early -> FINISHED."""
    parent = tracking.client(uri).get_run(parent_run_id)
    for child in tracking.children(uri, parent, status="RUNNING"):
        trial_id = child.data.tags.get(Tag.TRIAL, "")
        if trial_id in errors:
            tracking.end_run(uri, child.info.run_id, "FAILED", error=errors[trial_id])
        elif interrupted:
            tracking.end_run(uri, child.info.run_id, "KILLED")
        else:
            tracking.set_tags(uri, child.info.run_id, {Tag.STOPPED_EARLY: "scheduler"})
            tracking.end_run(uri, child.info.run_id)


def _was_interrupted(results: Any, rows: list[dict], total: int, opts: SweepOptions, seconds: float) -> bool:
    """True when trials are left to run (Ctrl-C, a dead driver), not when a time
    budget ran out by design."""
    if opts.time_budget_s and seconds >= opts.time_budget_s:
        return False
    try:
        statuses = [trial.status for trial in results._experiment_analysis.trials]
    except AttributeError:  # pragma: no cover - private API moved: fall back to counting
        statuses = ["TERMINATED"] * len(rows)
    return len(statuses) < total or any(status not in ("TERMINATED", "ERROR") for status in statuses)


def finish_sweep(uri: str, experiment_id: str, parent_run_id: str, name: str, spec: Any, results: Any,
                 opts: SweepOptions, total: int, seconds: float) -> dict[str, Any]:
    """Best config and metric on the parent; best trial's plot copied up; a sweep plot."""
    errors: dict[str, str] = {}
    rows = []
    for result in results:
        metrics = result.metrics or {}
        trial_id = metrics.get("trial_id") or Path(result.path).name
        if result.error:
            errors[str(trial_id)] = f"{type(result.error).__name__}: {result.error}".splitlines()[0][:500]
        rows.append({"trial_id": trial_id, "config": result.config or {}, "metrics": metrics,
                     "error": bool(result.error)})
    interrupted = _was_interrupted(results, rows, total, opts, seconds)
    _close_orphans(uri, experiment_id, parent_run_id, errors, interrupted)
    metric, mode = ranking(spec, opts.metric)
    finished = [r for r in rows if not r["error"] and metric in r["metrics"] and
                ("done" in r["metrics"] or opts.scheduler == "asha")]
    summary: dict[str, Any] = {"name": name, "parent_run_id": parent_run_id, "trials": len(rows),
                               "failed": len(errors), "seconds": seconds, "tracking_uri": uri}
    tracking.log_metrics(uri, parent_run_id, {"trials_finished": len(finished), "trials_failed": len(errors),
                                              "sweep_seconds": seconds})
    if finished:
        pick = min if mode == "min" else max
        best = pick(finished, key=lambda r: r["metrics"][metric])
        summary.update(best_trial=best["trial_id"], best_config=best["config"],
                       best_metric=best["metrics"][metric], metric=metric,
                       best_metrics={k: v for k, v in best["metrics"].items()
                                     if isinstance(v, float) and (k.startswith("test_") or k.startswith("val_"))})
        tracking.log_params(uri, parent_run_id, {f"best.{k}": v for k, v in best["config"].items()})
        tracking.log_metrics(uri, parent_run_id, {f"best_{metric}": best["metrics"][metric],
                                                  **{f"best_{k}": v for k, v in summary["best_metrics"].items()}})
        tracking.set_tags(uri, parent_run_id, {Tag.BEST_TRIAL: best["trial_id"]})
        _copy_best_plot(uri, experiment_id, parent_run_id, str(best["trial_id"]))
        _log_sweep_plot(uri, parent_run_id, finished, metric, opts)
    status = "KILLED" if interrupted else "FINISHED"
    if interrupted:
        tracking.set_tags(uri, parent_run_id, {Tag.RESUME: f"python -m orchestrator sweep --resume {name}"})
    tracking.end_run(uri, parent_run_id, status)
    summary["interrupted"] = interrupted
    return summary


def _copy_best_plot(uri: str, experiment_id: str, parent_run_id: str, trial_id: str) -> None:
    child = tracking.find_child(uri, experiment_id, parent_run_id, Tag.TRIAL, trial_id)
    if not child:
        return
    client = tracking.client(uri)
    try:
        files = [f.path for f in client.list_artifacts(child, "plots")]
    except Exception:  # noqa: BLE001 - a missing plot must not fail the sweep
        return
    for artifact in files:
        local = client.download_artifacts(child, artifact)
        client.log_artifact(parent_run_id, local, "best_trial")


def _log_sweep_plot(uri: str, parent_run_id: str, rows: list[dict], metric: str, opts: SweepOptions) -> None:
    """The metric against each searched parameter (numeric or categorical)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in opts.space if any(k in r["config"] for r in rows)] or ["trial"]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.2), squeeze=False)
    values = [r["metrics"][metric] for r in rows]
    for ax, key in zip(axes[0], keys):
        xs = [r["config"].get(key, i) if key != "trial" else i for i, r in enumerate(rows)]
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs):
            ax.scatter(xs, values, s=18)
            if isinstance(opts.space.get(key), LogUniform):
                ax.set_xscale("log")
        else:
            labels = sorted({str(x) for x in xs})
            ax.scatter([labels.index(str(x)) for x in xs], values, s=18)
            ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
    fig.suptitle(f"{len(rows)} trials")
    fig.tight_layout()
    tracking.log_figure(uri, parent_run_id, fig, "plots/metric_vs_params.png")
