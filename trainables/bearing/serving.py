"""The bearing classifier for ensembles and export: probabilities, scores, and a
raw-signal pipeline (vibration samples in, class probabilities out).

Nothing here knows a class list: the names, the window and the rate travel in the
pipeline from the data the members were trained on (CWRU's ten classes, or the
user's class folders at their ``target_rate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from data.bearing import BearingData
from data.errors import DataError
from data.recordings import SIGNAL_SUFFIXES, read_signal, to_rate
from data.source import DataSource
from data.signal import standardize
from trainables.bearing.config import BearingConfig
from trainables.bearing.data import make_splits, window_tensors
from trainables.bearing.scoring import predict as predict_windows
from trainables.bearing.task import build_model as build_network
from trainables.registry import EnsembleAdapter


def build_model(cfg: BearingConfig, data: BearingData) -> nn.Module:
    return build_network(cfg, len(data.class_names))


def predict(model: nn.Module, cfg: BearingConfig, data: BearingData, split: str):
    """Class probabilities (N, K) and labels (N,) of one split of the configured fold."""
    index = getattr(make_splits(cfg, data), split)
    out = predict_windows(model, window_tensors(data, index), cfg.eval_batch_size, torch.device("cpu"))
    return out["probs"], out["labels"]


def score(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Negative log-likelihood (what greedy selection minimises), accuracy, macro-F1."""
    from sklearn.metrics import f1_score

    probs = np.asarray(probs, dtype=np.float64)
    picked = np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)
    predicted = probs.argmax(-1)
    return {"nll": float(-np.log(picked).mean()), "acc": float((predicted == labels).mean()),
            "macro_f1": float(f1_score(labels, predicted, average="macro"))}


@dataclass
class SignalPipeline:
    """Raw vibration samples at ``fs`` Hz (the training ``target_rate``) -> class
    probabilities per window.

    Input frame: a ``signal`` column of samples and optionally a ``window`` id column,
    ``window`` samples per id; without ids the samples are cut into consecutive
    windows, so their count must be a multiple of ``window``. Each window is
    standardised as in training. The caller resamples other rates first: the model
    only knows what a fault looks like at ``fs``.
    """

    class_names: list[str]
    window: int
    fs: int
    layout: dict = field(default_factory=dict)  # the training data's layout keys (signal, sample_rate, ...)

    def build_model(self, cfg: BearingConfig) -> nn.Module:
        return build_network(cfg, len(self.class_names))

    def inputs(self, frame: pd.DataFrame) -> torch.Tensor:
        if "signal" not in frame.columns:
            raise ValueError("input: expected a 'signal' column of vibration samples")
        if "window" in frame.columns:
            groups = [g["signal"].to_numpy(dtype=np.float32) for _, g in frame.groupby("window", sort=True)]
            for group in groups:
                if len(group) != self.window:
                    raise ValueError(f"input: each window needs {self.window} samples at {self.fs} Hz, "
                                     f"got {len(group)}")
        else:
            samples = frame["signal"].to_numpy(dtype=np.float32)
            if not len(samples) or len(samples) % self.window:
                raise ValueError(f"input: {len(samples)} samples; without a 'window' column send a multiple of "
                                 f"{self.window} samples at {self.fs} Hz")
            groups = list(samples.reshape(-1, self.window))
        return standardize(torch.tensor(np.stack(groups)))

    def forward(self, model: nn.Module, inputs: torch.Tensor) -> np.ndarray:
        logits = model(inputs)[0]
        return torch.softmax(logits.double(), -1).numpy()

    def outputs(self, members: np.ndarray, weights: np.ndarray) -> pd.DataFrame:
        """One row per window and class: mean probability and its std across members."""
        from trainables.ensemble import combine, spread

        mean, std = combine(members, weights), spread(members, weights)
        windows, classes = mean.shape
        index = np.indices((windows, classes)).reshape(2, -1)
        return pd.DataFrame({"window": index[0], "class": np.asarray(self.class_names)[index[1]],
                             "probability": mean.ravel(), "std": std.ravel(),
                             "predicted": np.asarray(self.class_names)[mean.argmax(-1)][index[0]]})

    def request(self, source: DataSource) -> tuple[pd.DataFrame, pd.DataFrame]:
        """New recordings for ``predict``: a file, or a folder of files (searched
        recursively), each resampled from ``sample_rate`` to ``fs`` and cut into
        consecutive windows. Returns the model's input frame and, per window, the
        file it came from and its first sample (at ``fs``)."""
        root = Path(source.path)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()
                                                     and p.suffix.lower() in SIGNAL_SUFFIXES
                                                     and not p.name.startswith((".", "~$")))
        if not files:
            raise DataError(f"--data: {root} holds no {'/'.join(SIGNAL_SUFFIXES)} file")
        rate = source.get("sample_rate")
        if rate is None or isinstance(rate, dict):
            raise DataError(f"--data {root}: set data.sample_rate=HZ, the rate these recordings were sampled at "
                            f"(the model was trained at {self.fs} Hz; they are resampled to it)")
        signals, labels = [], []
        for path in files:
            signal = to_rate(read_signal(path, source.get("signal")), int(rate), self.fs)
            count = len(signal) // self.window
            if count == 0:
                raise DataError(f"--data: {path} has {len(signal)} samples at {self.fs} Hz, fewer than one "
                                f"window of {self.window}")
            signals.append(signal[:count * self.window])
            name = str(path.relative_to(root)) if root.is_dir() else path.name
            labels += [(name, i * self.window) for i in range(count)]
        samples = np.concatenate(signals)
        frame = pd.DataFrame({"window": np.repeat(np.arange(len(labels)), self.window), "signal": samples})
        table = pd.DataFrame(labels, columns=["file", "first_sample"])
        table.insert(0, "window", np.arange(len(labels)))
        return frame, table

    def label(self, table: pd.DataFrame) -> pd.DataFrame:
        """The rows already say what a user knows them by (file, first sample, class)."""
        return table

    def example(self, data: BearingData) -> pd.DataFrame:
        """Two raw windows of the data, as a user would send them."""
        raw = data.windows(np.arange(2))
        return pd.DataFrame({"window": np.repeat(np.arange(len(raw)), self.window),
                             "signal": raw.reshape(-1).astype(np.float64)})


def serving(cfg: BearingConfig, data: BearingData) -> SignalPipeline:
    return SignalPipeline(class_names=list(data.class_names), window=cfg.window, fs=int(data.fs))


ADAPTER = EnsembleAdapter(build_model=build_model, predict=predict, score=score, serving=serving,
                          metric="nll", mode="min")
