"""`compare`: leaderboards and reports read back from MLflow, across runs, sweeps,
experiments and models.

The terminal gets a leaderboard; ``--out DIR`` gets an HTML report with PNG plots
(metric against each searched parameter, learning curves of the top runs, ensembles
against their members, Optuna parameter importances), also logged to MLflow.
"""

from __future__ import annotations

import html
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator import tracking
from orchestrator.tracking import Tag
from trainables.errors import ConfigError

LEAF_KINDS = ("trial", "member", "train")
SKIP_PARAMS = {"model", "dataset"}


@dataclass
class Selection:
    """The runs to compare, with where each came from (its sweep / experiment)."""

    runs: list[Any] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)  # run id -> group label
    parents: list[Any] = field(default_factory=list)


def select_runs(uri: str, experiments: list[str], sweeps: list[str], run_ids: list[str],
                tags: list[str]) -> Selection:
    """Leaf runs (trials, members, single trainings) of everything named."""
    client = tracking.client(uri)
    selection = Selection()
    seen: set[str] = set()

    def add(run: Any, group: str) -> None:
        if run.info.run_id not in seen and run.data.tags.get(Tag.KIND, "train") in LEAF_KINDS:
            seen.add(run.info.run_id)
            selection.runs.append(run)
            selection.groups[run.info.run_id] = group

    def add_children(parent: Any) -> None:
        selection.parents.append(parent)
        for child in tracking.children(uri, parent):
            add(child, parent.info.run_name)

    for name in experiments:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise ConfigError(f"--experiment: no MLflow experiment named {name!r} in {uri}")
        for run in client.search_runs([exp.experiment_id], max_results=5000):
            if run.data.tags.get(Tag.KIND) in ("sweep", "ensemble"):
                selection.parents.append(run)
            add(run, _group_of(run, client) or name)
    for sweep in sweeps:
        add_children(tracking.find_parent(uri, sweep, ("sweep", "ensemble"), "--sweep"))
    for run_id in run_ids:
        try:
            run = client.get_run(run_id)
        except Exception as exc:  # noqa: BLE001 - MLflow raises its own types
            raise ConfigError(f"--run: no MLflow run {run_id!r} in {uri}") from exc
        if run.data.tags.get(Tag.KIND) in ("sweep", "ensemble"):
            add_children(run)
        else:
            add(run, run.info.run_name)
    if tags:
        filters = []
        for item in tags:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"--tag: expected key=value, got {item!r}")
            filters.append(f"tags.`{key}` = '{value}'")
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
        for run in client.search_runs(experiment_ids, filter_string=" and ".join(filters), max_results=5000):
            add(run, _group_of(run, client) or "tagged")
    if not selection.runs:
        raise ConfigError("compare: nothing to compare (name --experiment, --sweep, --run or --tag)")
    return selection


def _group_of(run: Any, client: Any) -> str:
    parent = run.data.tags.get(tracking.PARENT_TAG)
    if not parent:
        return ""
    return client.get_run(parent).info.run_name


def pick_metric(runs: list[Any], explicit: str | None) -> tuple[str, str]:
    """The metric to rank by and its direction (from the models' registry entries)."""
    from trainables.registry import get_spec

    if explicit:
        mode = "max" if any(w in explicit for w in ("acc", "f1")) else "min"
        return explicit, mode
    for run in runs:
        model = run.data.tags.get(Tag.MODEL)
        if model:
            spec = get_spec(model)
            return spec.metric, spec.mode
    return "val_loss", "min"


def varying_params(runs: list[Any]) -> list[str]:
    """Params whose values differ across the runs (what was searched)."""
    keys = sorted({k for r in runs for k in r.data.params} - SKIP_PARAMS)
    return [k for k in keys if len({r.data.params.get(k) for r in runs}) > 1]


def leaderboard(selection: Selection, metric: str, mode: str, top: int) -> list[dict[str, Any]]:
    rows = []
    for run in selection.runs:
        data = run.data
        end = run.info.end_time or int(time.time() * 1000)
        rows.append({
            "run": run.info.run_name, "run_id": run.info.run_id, "group": selection.groups[run.info.run_id],
            "kind": data.tags.get(Tag.KIND, "train"), "model": data.tags.get(Tag.MODEL, ""),
            "dataset": data.tags.get(Tag.DATASET, ""), "status": run.info.status,
            "seconds": (end - run.info.start_time) / 1000.0, "metric": data.metrics.get(metric, math.nan),
            "metrics": dict(data.metrics), "params": dict(data.params),
        })
    sign = 1 if mode == "min" else -1
    rows.sort(key=lambda r: (math.isnan(r["metric"]), sign * (0 if math.isnan(r["metric"]) else r["metric"])))
    return rows[:top] if top else rows


def format_leaderboard(rows: list[dict[str, Any]], metric: str, params: list[str]) -> str:
    extra = [m for m in ("test_mse", "test_mae", "test_acc", "test_rmse") if any(m in r["metrics"] for r in rows)]
    header = ["#", "run", "group", "model", "dataset", *params[:5], metric, *extra, "seconds", "status"]
    lines = []
    for i, r in enumerate(rows, 1):
        cells = [str(i), r["run"][:28], r["group"][:28], r["model"], r["dataset"],
                 *[_short(r["params"].get(p, "")) for p in params[:5]],
                 _num(r["metric"]), *[_num(r["metrics"].get(m, math.nan)) for m in extra],
                 f"{r['seconds']:.1f}", r["status"]]
        lines.append(cells)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines]
    return "\n".join(out)


def _num(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.5g}"


def _short(value: str) -> str:
    try:
        number = float(value)
        return f"{number:.4g}"
    except (TypeError, ValueError):
        return str(value)[:12]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_metric_vs_params(rows: list[dict], metric: str, params: list[str]):
    plt = _plt()
    shown = params[:6] or ["run"]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.6 * len(shown), 3.3), squeeze=False)
    groups = sorted({r["group"] for r in rows})
    for ax, key in zip(axes[0], shown):
        for g, group in enumerate(groups):
            chosen = [r for r in rows if r["group"] == group and not math.isnan(r["metric"])]
            raw = [r["params"].get(key, "") for r in chosen]
            try:
                xs = [float(x) for x in raw]
                categorical = False
            except ValueError:
                categorical, labels = True, sorted({str(x) for r in rows for x in [r["params"].get(key, "")]})
                xs = [labels.index(str(x)) for x in raw]
            ax.scatter(xs, [r["metric"] for r in chosen], s=16, color=f"C{g}", label=group[:30], alpha=0.8)
            if categorical:
                ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
        numeric = [float(r["params"][key]) for r in rows if _is_float(r["params"].get(key))]
        if numeric and min(numeric) > 0 and max(numeric) / min(numeric) > 50:
            ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _is_float(value: Any) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def plot_learning_curves(uri: str, rows: list[dict], metric: str, count: int = 5):
    plt = _plt()
    client = tracking.client(uri)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, row in enumerate(rows[:count]):
        history = client.get_metric_history(row["run_id"], metric)
        epochs = sorted(history, key=lambda m: m.step)
        ax.plot([m.step for m in epochs], [m.value for m in epochs], marker="o", ms=3, color=f"C{i}",
                label=f"#{i + 1} {row['run'][:24]}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"learning curves of the top {min(count, len(rows))}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_ensembles(uri: str, parents: list[Any]):
    """For each ensemble parent: members' test scores against each combination rule."""
    ensembles = [p for p in parents if p.data.tags.get(Tag.KIND) == "ensemble"]
    if not ensembles:
        return None
    plt = _plt()
    client = tracking.client(uri)
    fig, axes = plt.subplots(1, len(ensembles), figsize=(6 * len(ensembles), 3.6), squeeze=False)
    for ax, parent in zip(axes[0], ensembles):
        payload = json.loads(Path(client.download_artifacts(parent.info.run_id, "ensemble.json")).read_text())
        members = payload["members"]
        key = next(k for k in members[0] if k.startswith("test_"))
        ax.scatter(range(len(members)), [m[key] for m in members], color="0.4", label="members")
        for i, (rule, result) in enumerate(sorted(payload["rules"].items())):
            value = result["test"][key[len("test_"):]]
            ax.axhline(value, color=f"C{i}", lw=1.2, label=f"{rule} {value:.4g}")
        ax.set_title(parent.info.run_name[:40], fontsize=9)
        ax.set_ylabel(key)
        ax.set_xlabel("member")
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def optuna_importances(rows: list[dict], parents: list[Any], params: list[str]) -> dict[str, dict[str, float]]:
    """fANOVA parameter importances of each Optuna (TPE) sweep among the parents."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = {}
    for parent in parents:
        if parent.data.tags.get(Tag.SEARCH) != "tpe":
            continue
        chosen = [r for r in rows if r["group"] == parent.info.run_name and not math.isnan(r["metric"])]
        keys = [k for k in params if all(k in r["params"] for r in chosen)]
        if len(chosen) < 3 or not keys:
            continue
        distributions = {}
        for key in keys:
            values = [r["params"][key] for r in chosen]
            if all(_is_float(v) for v in values):
                numbers = [float(v) for v in values]
                low, high = min(numbers), max(numbers)
                log = low > 0 and high / low > 50
                distributions[key] = FloatDistribution(low, high if high > low else low + 1e-12, log=log)
            else:
                distributions[key] = CategoricalDistribution(sorted(set(values)))
        study = optuna.create_study()
        for r in chosen:
            params_ = {k: float(r["params"][k]) if isinstance(distributions[k], FloatDistribution)
                       else r["params"][k] for k in keys}
            study.add_trial(create_trial(params=params_, distributions=distributions, value=r["metric"]))
        out[parent.info.run_name] = optuna.importance.get_param_importances(study)
    return out


def plot_importances(importances: dict[str, dict[str, float]]):
    plt = _plt()
    fig, axes = plt.subplots(1, len(importances), figsize=(4.5 * len(importances), 3), squeeze=False)
    for ax, (name, values) in zip(axes[0], importances.items()):
        keys = list(values)
        ax.barh(keys, [values[k] for k in keys])
        ax.set_title(f"importances: {name[:30]}", fontsize=9)
        ax.invert_yaxis()
    fig.tight_layout()
    return fig


def write_report(out: Path, rows: list[dict], metric: str, params: list[str], figures: dict[str, Any],
                 importances: dict[str, dict[str, float]]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for name, figure in figures.items():
        figure.savefig(out / name, dpi=110)
        _plt().close(figure)
    head = ["#", "run", "group", "model", "dataset", *params[:6], metric, "test metrics", "seconds", "status"]
    body = []
    for i, r in enumerate(rows, 1):
        tests = ", ".join(f"{k}={v:.4g}" for k, v in sorted(r["metrics"].items()) if k.startswith("test_"))
        cells = [i, r["run"], r["group"], r["model"], r["dataset"], *[r["params"].get(p, "") for p in params[:6]],
                 _num(r["metric"]), tests, f"{r['seconds']:.1f}", r["status"]]
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    images = "".join(f'<h2>{html.escape(name[:-4].replace("_", " "))}</h2><img src="{html.escape(name)}">'
                     for name in figures)
    importance_html = "".join(
        f"<h3>{html.escape(n)}</h3><ul>" + "".join(f"<li>{html.escape(k)}: {v:.3f}</li>" for k, v in vals.items())
        + "</ul>" for n, vals in importances.items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>comparison</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:3px 6px}}img{{max-width:100%}}</style></head><body>
<h1>Leaderboard ({len(rows)} runs, ranked by {html.escape(metric)})</h1>
<table><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in head)}</tr>{''.join(body)}</table>
{images}{('<h2>Optuna parameter importances</h2>' + importance_html) if importances else ''}
</body></html>"""
    index = out / "index.html"
    index.write_text(page)
    return index


def run_compare(experiments: list[str], sweeps: list[str], run_ids: list[str], tags: list[str],
                metric: str | None, top: int, out: str | None) -> dict[str, Any]:
    uri = tracking.resolve_tracking_uri()
    selection = select_runs(uri, experiments, sweeps, run_ids, tags)
    metric, mode = pick_metric(selection.runs, metric)
    params = varying_params(selection.runs)
    ranked = leaderboard(selection, metric, mode, 0)
    result: dict[str, Any] = {"table": format_leaderboard(ranked[:top] if top else ranked, metric, params),
                              "metric": metric, "runs": len(ranked)}
    if out:
        figures = {"metric_vs_params.png": plot_metric_vs_params(ranked, metric, params),
                   "learning_curves.png": plot_learning_curves(uri, ranked, metric)}
        ensemble_fig = plot_ensembles(uri, selection.parents)
        if ensemble_fig is not None:
            figures["ensembles_vs_members.png"] = ensemble_fig
        importances = optuna_importances(ranked, selection.parents, params)
        if importances:
            figures["optuna_importances.png"] = plot_importances(importances)
        index = write_report(Path(out), ranked, metric, params, figures, importances)
        experiment_id = tracking.ensure_experiment(uri, "comparisons")
        run_id = tracking.start_run(uri, experiment_id, f"compare-{time.strftime('%Y%m%d-%H%M%S')}",
                                    {Tag.KIND: "compare"})
        tracking.log_params(uri, run_id, {"metric": metric, "experiments": experiments, "sweeps": sweeps,
                                          "runs": run_ids, "tags": tags})
        tracking.log_artifact_dir(uri, run_id, index.parent, "report")
        tracking.end_run(uri, run_id)
        result.update(report=str(index), report_run_id=run_id)
    return result
