"""Every registered model family, picked up from the registry: configs, spaces,
a smoke fit without Ray, and a 2-worker DDP run through the CLI."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from orchestrator.__main__ import main
from search_spaces import get_space, space_names
from trainables.config import build_config
from trainables.context import LocalContext
from trainables.registry import ServingPipeline, get_spec, kept_epoch, metric_modes, names
from data.registry import DATASETS, get_info
from data.source import builtin_source

FAMILIES = names()


def with_data(families):
    """One case per family, marked needs_data with its default built-in set unless that
    set is generated: a family whose files are absent skips, the others still run."""
    return [pytest.param(f, marks=() if get_info(get_spec(f).default_dataset).synthetic
                         else pytest.mark.needs_data(get_spec(f).default_dataset)) for f in families]


@pytest.mark.parametrize("family", FAMILIES)
def test_spec_is_complete(family):
    spec = get_spec(family)
    assert spec.name == family and spec.default_dataset in spec.datasets
    for dataset in spec.datasets:  # every set a family lists is a registered built-in set
        assert dataset in DATASETS, f"{family} lists {dataset!r}, which data/registry.py does not register"
    assert spec.mode in ("min", "max")
    cfg = build_config(spec.config_cls, dict(spec.smoke_overrides))
    assert dataclasses.is_dataclass(cfg)
    fields = {f.name for f in dataclasses.fields(cfg)}
    assert "smoke" in space_names(family)
    for name in space_names(family):
        space = get_space(family, name)
        assert set(space) <= fields, f"space {name!r} names fields the config lacks"


@pytest.mark.parametrize("family", with_data(FAMILIES))
def test_smoke_fit_without_ray(family):
    torch.set_num_threads(1)
    spec = get_spec(family)
    cfg = build_config(spec.config_cls, dict(spec.smoke_overrides))
    data = spec.load_data(cfg, builtin_source(spec.default_dataset))
    if spec.preflight:
        spec.preflight(cfg, data)
    ctx = LocalContext("cpu")
    result = spec.fit(cfg, data, ctx)
    assert ctx.history and set(metric_modes(spec)) <= set(ctx.history[-1])  # every metric `--metric` offers
    assert set(metric_modes(spec).values()) <= {"min", "max"}
    kept = kept_epoch(ctx.history, spec)
    assert kept is not None and kept[spec.metric] == (min if spec.mode == "min" else max)(
        h[spec.metric] for h in ctx.history)
    assert all(math.isfinite(v) for v in result.metrics.values() if isinstance(v, float))
    figures = spec.plots(result, data)
    assert figures and all(name.endswith(".png") for name in figures)


@pytest.mark.ray
@pytest.mark.parametrize("family", with_data([f for f in FAMILIES if f != "timemixer"]))  # timemixer: test_ray_sweep
def test_two_worker_ddp_smoke_run(family, ray_cluster, mlflow_uri, tmp_path):
    from mlflow.tracking import MlflowClient

    argv = ["train", "--model", family, "--smoke", "--workers", "2", "--experiment", f"ddp-{family}",
            "--storage", str(tmp_path / "ray")]
    assert main(argv) == 0
    client = MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name(f"ddp-{family}").experiment_id])
    (run,) = [r for r in runs if r.data.tags.get("orch.kind") == "train"]
    assert run.info.status == "FINISHED"
    stages = [r for r in runs if r.data.tags.get("orch.kind") == "stage"]
    if family == "bearing":  # contrastive pre-training, then fine-tuning: one run each under the parent
        assert sorted(r.data.tags["orch.stage"] for r in stages) == ["finetune", "pretrain"]
        assert all(r.data.tags["mlflow.parentRunId"] == run.info.run_id for r in stages)
    spread = client.get_metric_history(run.info.run_id, "ddp_weight_max_diff")
    assert spread and all(m.value == 0.0 for m in spread)


@pytest.mark.parametrize("family", with_data(FAMILIES))
def test_seed_ensemble_and_export_round_trip_without_ray(family, tmp_path):
    """Two smoke members per family: combined by every rule, greedy never worse on
    validation, and a weights_only round trip of the export that reproduces the
    in-process ensemble on raw input."""
    import numpy as np

    from orchestrator.ensemble import Member, combine_members
    from orchestrator.export import bundle, predictor_from_bundle
    from trainables.config import as_dict
    from trainables.ensemble import EnsemblePredictor
    from trainables.registry import get_adapter

    torch.set_num_threads(1)
    spec, adapter = get_spec(family), get_adapter(family)
    base = build_config(spec.config_cls, dict(spec.smoke_overrides))
    data = spec.load_data(base, builtin_source(spec.default_dataset))
    members = []
    for seed in (0, 1):
        cfg = build_config(spec.config_cls, {"seed": seed}, base=base)
        model = spec.fit(cfg, data, LocalContext("cpu")).model.eval()
        with torch.no_grad():
            members.append(Member("", 0, seed, as_dict(cfg), model.state_dict(),
                                  adapter.predict(model, cfg, data, "val"), adapter.predict(model, cfg, data, "test")))
    rules = combine_members(members, adapter, (1.0,))
    best = min(adapter.score(*m.val)[adapter.metric] * (1 if adapter.mode == "min" else -1) for m in members)
    assert rules["greedy"]["val"][adapter.metric] * (1 if adapter.mode == "min" else -1) <= best + 1e-9
    pipeline = adapter.serving(base, data)
    assert isinstance(pipeline, ServingPipeline) and dataclasses.is_dataclass(pipeline)
    weights = [0.25, 0.75]
    payload = bundle(family, [m.config for m in members], [m.state for m in members], weights, pipeline)
    torch.save(payload, tmp_path / "ensemble.pt")
    loaded = predictor_from_bundle(torch.load(tmp_path / "ensemble.pt", weights_only=True))
    direct = EnsemblePredictor(family, [m.config for m in members], [m.state for m in members], weights, pipeline)
    raw = pipeline.example(data)
    expected, got = direct.predict(raw), loaded.predict(raw)
    numeric = [c for c in expected.columns if expected[c].dtype.kind == "f"]
    np.testing.assert_allclose(got[numeric].to_numpy(), expected[numeric].to_numpy(), atol=1e-6, rtol=0)
