"""`ensemble`: the top-k configurations of a finished sweep, trained over N seeds
(a Ray Tune seed grid), evaluated member by member, combined by mean, fixed rank
weights and greedy selection, recorded side by side on one MLflow parent run, and
optionally exported as one registered pyfunc model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from data.source import DataSource, builtin_source
from orchestrator import tracking
from orchestrator.config import RunOptions, SweepOptions
from orchestrator.progress import progress
from orchestrator.tracking import Tag
from orchestrator.trial import CONFIG_RANK_KEY
from search_spaces.space import Grid
from trainables.common import WEIGHTS_FILE
from trainables.config import as_dict, build_config
from trainables.ensemble import combine, greedy_selection, rank_weights
from trainables.errors import ConfigError
from trainables.registry import get_adapter, get_spec, metric_modes


@dataclass(frozen=True)
class EnsembleOptions:
    source: str  # sweep name or parent run id; "" = one configuration from `run`
    top_k: int = 3
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    rank_share: tuple[float, ...] = (0.5, 0.3, 0.2)
    export: bool = False
    export_rule: str = "greedy"  # greedy | mean | rank
    registered_name: str = ""
    name: str = ""
    storage: str = ""
    concurrency: int = 0
    overrides: tuple[tuple[str, Any], ...] = ()


@dataclass
class Member:
    run_id: str
    rank: int
    seed: int
    config: dict
    state: dict
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]


def top_configs(uri: str, parent, model: str, k: int) -> list[dict]:
    """The best ``k`` distinct configurations of a sweep (from each trial's config.json),
    ranked on the metric the sweep ranked on."""
    spec = get_spec(model)
    metric = parent.data.tags.get(Tag.METRIC) or spec.metric
    mode = metric_modes(spec).get(metric, spec.mode)
    client = tracking.client(uri)
    trials = tracking.children(uri, parent, status="FINISHED")
    scored = [t for t in trials if metric in t.data.metrics and math.isfinite(t.data.metrics[metric])]
    if not scored:
        raise ConfigError(f"--sweep: sweep {parent.info.run_name!r} has no finished trial with {metric}")
    scored.sort(key=lambda t: t.data.metrics[metric], reverse=mode == "max")
    configs, digests = [], set()
    for trial in scored:
        digest = trial.data.tags.get(Tag.CONFIG_DIGEST)
        config = json.loads(Path(client.download_artifacts(trial.info.run_id, "model/config.json")).read_text())
        config.pop("seed", None)
        key = digest or json.dumps(config, sort_keys=True)
        if key in digests:
            continue
        digests.add(key)
        configs.append(config)
        if len(configs) == k:
            break
    return configs


def evaluate_members(uri: str, parent: Any, model: str, data: Any) -> list[Member]:
    """Load every finished member's best weights and predict validation and test."""
    spec, adapter = get_spec(model), get_adapter(model)
    client = tracking.client(uri)
    runs = tracking.children(uri, parent, status="FINISHED")
    members = []
    for run in sorted(runs, key=lambda r: (int(r.data.tags.get(Tag.MEMBER_RANK, 0)),
                                           int(r.data.tags.get(Tag.SEED, 0)))):
        config = json.loads(Path(client.download_artifacts(run.info.run_id, "model/config.json")).read_text())
        cfg = build_config(spec.config_cls, config, source="member config")
        state = torch.load(client.download_artifacts(run.info.run_id, f"model/{WEIGHTS_FILE}"),
                           map_location="cpu", weights_only=True)
        network = adapter.build_model(cfg, data)
        network.load_state_dict(state)
        network.eval()
        with torch.no_grad():
            members.append(Member(run.info.run_id, int(run.data.tags.get(Tag.MEMBER_RANK, 0)), cfg.seed,
                                  config, state, adapter.predict(network, cfg, data, "val"),
                                  adapter.predict(network, cfg, data, "test")))
    return members


def combine_members(members: list[Member], adapter, rank_share: tuple[float, ...]) -> dict[str, dict]:
    """Each combination rule's weights and its validation / test scores."""
    val_preds = np.stack([m.val[0] for m in members])
    test_preds = np.stack([m.test[0] for m in members])
    val_truth, test_truth = members[0].val[1], members[0].test[1]
    greedy = greedy_selection(val_preds, lambda p: adapter.score(p, val_truth)[adapter.metric], adapter.mode)
    rules = {
        "mean": np.full(len(members), 1.0 / len(members)),
        "rank_weighted": rank_weights([m.rank for m in members], rank_share),
        "greedy": greedy.weights,
    }
    for rank in sorted({m.rank for m in members}):
        w = np.array([1.0 if m.rank == rank else 0.0 for m in members])
        rules[f"seeds_of_rank{rank}"] = w / w.sum()
    out = {}
    for rule, weights in rules.items():
        out[rule] = {
            "weights": weights,
            "val": adapter.score(combine(val_preds, weights), val_truth),
            "test": adapter.score(combine(test_preds, weights), test_truth),
        }
    return out


def _member_table(members: list[Member], adapter) -> list[dict]:
    rows = []
    for m in members:
        rows.append({"run_id": m.run_id, "rank": m.rank, "seed": m.seed,
                     **{f"val_{k}": v for k, v in adapter.score(*m.val).items()},
                     **{f"test_{k}": v for k, v in adapter.score(*m.test).items()}})
    return rows


def seed_statistics(rows: list[dict]) -> dict[str, float]:
    """Mean and std over seeds of every metric, per configuration rank and overall."""
    stats = {}
    keys = [k for k in rows[0] if k.startswith(("val_", "test_"))]
    for rank in sorted({r["rank"] for r in rows}) + ["all"]:
        chosen = [r for r in rows if rank == "all" or r["rank"] == rank]
        for key in keys:
            values = np.array([r[key] for r in chosen])
            stats[f"rank{rank}_{key}_mean"] = float(values.mean())
            stats[f"rank{rank}_{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return stats


def _plot(rows: list[dict], rules: dict[str, dict], metric: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = f"test_{metric}"
    fig, ax = plt.subplots(figsize=(8, 4))
    labels = [f"r{r['rank']}s{r['seed']}" for r in rows]
    ax.bar(range(len(rows)), [r[key] for r in rows], color="0.7", label="members")
    for i, (rule, result) in enumerate(sorted(rules.items())):
        ax.axhline(result["test"][metric], color=f"C{i}", lw=1.5, label=f"{rule}: {result['test'][metric]:.4g}")
    ax.set_xticks(range(len(rows)), labels, rotation=60, fontsize=7)
    ax.set_ylabel(key)
    values = [r[key] for r in rows] + [r["test"][metric] for r in rules.values()]
    spread_ = max(values) - min(values)
    ax.set_ylim(min(values) - 0.5 * spread_ - 1e-9, max(values) + 0.5 * spread_ + 1e-9)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("ensembles against their members (test)")
    fig.tight_layout()
    return fig


def source_of(tags: dict[str, str], data_dir: str | None) -> DataSource:
    """The data a sweep or ensemble parent run read, from its tags: the recorded
    source (a user's file with its layout keys), else the built-in set it names."""
    if Tag.DATA_SOURCE in tags:
        source = DataSource.from_dict(json.loads(tags[Tag.DATA_SOURCE]))
        return dataclasses.replace(source, data_dir=data_dir or source.data_dir)
    return builtin_source(tags[Tag.DATASET], data_dir)


def run_ensemble(opts: EnsembleOptions, data_dir: str | None, experiment: str | None, address: str | None,
                 single: RunOptions | None = None) -> dict[str, Any]:
    """The whole `ensemble` command; returns a summary for printing.

    Members come from the top-k configurations of ``opts.source``, or, with no
    source, from the one configuration ``single`` (the repeat-training protocol:
    N seeds of one model, reported as mean +- std beside their ensemble).
    """
    from orchestrator.sweep import run_sweep

    uri = tracking.resolve_tracking_uri()
    if opts.source:
        parent = tracking.find_parent(uri, opts.source, ("sweep",), "--sweep")
        model, source = parent.data.tags[Tag.MODEL], source_of(parent.data.tags, data_dir)
        configs = top_configs(uri, parent, model, opts.top_k)
        source_name, source_tags = parent.info.run_name, {Tag.SOURCE_SWEEP: parent.info.run_id}
        experiment = experiment or tracking.client(uri).get_experiment(parent.info.experiment_id).name
    elif single is not None:
        model, source = single.model, single.data
        configs = [{k: v for k, v in as_dict(single.params).items() if k != "seed"}]
        source_name, source_tags = f"{model}-{source.name}", {}
        experiment = experiment or single.experiment
    else:
        raise ConfigError("ensemble: give --sweep NAME, or --model (and --dataset) for one configuration")
    spec, adapter = get_spec(model), get_adapter(model)
    overrides = dict(opts.overrides)
    bases = tuple(build_config(spec.config_cls, {**c, **overrides}, source="--set") for c in configs)
    data = spec.load_data(bases[0], source)
    dataset = source.name
    if spec.preflight is not None:
        for base in bases:
            spec.preflight(base, data)
    name = opts.name or f"ensemble-{source_name}-{len(opts.seeds)}seeds"
    run = RunOptions(model=model, data=source, params=bases[0], experiment=experiment,
                     address=address)
    space = {CONFIG_RANK_KEY: Grid(tuple(range(len(bases)))), "seed": Grid(opts.seeds)}
    sweep_opts = SweepOptions(space_name="seeds", space=space, search="grid", samples=1,
                              concurrency=opts.concurrency, name=name, storage=opts.storage, trial_plots=False)
    summary = run_sweep(run, sweep_opts, data, kind="ensemble", bases=bases,
                        parent_tags=source_tags)
    parent_id = summary["parent_run_id"]
    tracking.client(uri).update_run(parent_id, status="RUNNING")
    progress(f"[ensemble] evaluating {summary['trials']} members")
    members = evaluate_members(uri, tracking.client(uri).get_run(parent_id), model, data)
    if len(members) < 2:
        raise ConfigError(f"ensemble {name}: only {len(members)} member(s) finished; need at least 2")
    rules = combine_members(members, adapter, opts.rank_share)
    rows = _member_table(members, adapter)
    stats = seed_statistics(rows)
    best_member = min(rows, key=lambda r: r[f"val_{adapter.metric}"] * (1 if adapter.mode == "min" else -1))
    metrics = {**stats, **{f"best_member_{k}": v for k, v in best_member.items() if k.startswith(("val_", "test_"))}}
    for rule, result in rules.items():
        metrics.update({f"{rule}_val_{k}": v for k, v in result["val"].items()})
        metrics.update({f"{rule}_test_{k}": v for k, v in result["test"].items()})
    tracking.log_metrics(uri, parent_id, metrics)
    tracking.log_dict(uri, parent_id, {"members": rows, "rules": {
        r: {"weights": v["weights"].tolist(), "val": v["val"], "test": v["test"]} for r, v in rules.items()},
        "configs": configs}, "ensemble.json")
    tracking.log_figure(uri, parent_id, _plot(rows, rules, adapter.metric), "plots/ensemble_vs_members.png")
    result = {"name": name, "parent_run_id": parent_id, "members": rows, "rules": rules, "stats": stats,
              "metric": adapter.metric, "tracking_uri": uri, "best_member": best_member}
    if opts.export:
        result["model_uri"] = export_members(uri, parent_id, model, source, members,
                                             rules[_rule_key(opts.export_rule)]["weights"], bases[0], data,
                                             opts.registered_name or f"{model}-{dataset}-ensemble")
        tracking.set_tags(uri, parent_id, {Tag.MODEL_URI: result["model_uri"]})
    tracking.end_run(uri, parent_id)
    return result


def _rule_key(rule: str) -> str:
    return {"rank": "rank_weighted"}.get(rule, rule)


def export_members(uri: str, run_id: str, model: str, source: DataSource, members: list[Member],
                   weights: np.ndarray, cfg: Any, data: Any, registered_name: str) -> str:
    """Log (and register) the weighted members as one pyfunc model; returns its URI.

    The pipeline keeps the training data's layout keys, so ``predict`` reads new
    files the way the training file was read."""
    from orchestrator.export import bundle, log_ensemble_model, predictor_from_bundle

    keep = [i for i, w in enumerate(weights) if w > 0]
    pipeline = get_adapter(model).serving(cfg, data)
    pipeline.layout = source.options
    payload = bundle(model, [members[i].config for i in keep], [members[i].state for i in keep],
                     [float(weights[i]) for i in keep], pipeline)
    example = pipeline.example(data)
    predictor_from_bundle(payload).predict(example)  # fail here, not in the server
    return log_ensemble_model(uri, run_id, payload, example, registered_name)


def run_export(source: str, rule: str, registered_name: str, data_dir: str | None) -> str:
    """`export`: re-load a finished ensemble's members and export them as one model."""
    uri = tracking.resolve_tracking_uri()
    parent = tracking.find_parent(uri, source, ("ensemble",), "--ensemble")
    model, source = parent.data.tags[Tag.MODEL], source_of(parent.data.tags, data_dir)
    dataset = source.name
    spec, adapter = get_spec(model), get_adapter(model)
    client = tracking.client(uri)
    first = tracking.children(uri, parent, max_results=1)
    if not first:
        raise ConfigError(f"--ensemble: {source!r} has no members")
    config = json.loads(Path(client.download_artifacts(first[0].info.run_id, "model/config.json")).read_text())
    cfg = build_config(spec.config_cls, config, source="member config")
    data = spec.load_data(cfg, source)
    members = evaluate_members(uri, parent, model, data)
    rules = combine_members(members, adapter, (0.5, 0.3, 0.2))
    key = _rule_key(rule)
    if key not in rules:
        raise ConfigError(f"--rule: expected one of greedy, mean, rank, got {rule!r}")
    model_uri = export_members(uri, parent.info.run_id, model, source, members, rules[key]["weights"], cfg, data,
                               registered_name or f"{model}-{dataset}-ensemble")
    tracking.set_tags(uri, parent.info.run_id, {Tag.MODEL_URI: model_uri})
    return model_uri
