"""DLinear's hyper-parameters: the typed config and the choices it checks against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from trainables.config import TrainConfig, check

LOSSES = ("mse", "mae")


@dataclass(frozen=True)
class DLinearConfig(TrainConfig):
    """Defaults are the reference ETTh1 settings of DLinear (Zeng et al., AAAI 2023):
    cure-lab/LTSF-Linear ``scripts/EXP-LongForecasting/Linear/etth1.sh`` sets
    ``--features M --seq_len 336 --pred_len 96 --batch_size 32 --learning_rate 0.005``
    and ``run_longExp.py``'s defaults give the rest: 10 epochs, early stopping with
    patience 3, ``lradj=type1`` (the rate halved after every epoch: ``scheduler=
    "exponential"`` with ``lr_gamma=0.5``), Adam, MSE loss, seed 2021. The reference
    model fixes the moving-average kernel at 25 and shares one pair of linear layers
    across channels unless ``--individual`` is given.
    """

    # windows and data
    input_len: int = 336
    output_len: int = 96
    step_len: int = 1  # stride between training windows
    features: str = "M"  # M: all channels -> all; S: target -> target
    target: str = "OT"
    lookback_from_previous: bool = True  # val/test inputs may reach into the split before (the ETT protocol)
    # architecture
    moving_avg: int = 25  # the trend's moving-average kernel
    individual: bool = False  # one seasonal and one trend layer per channel instead of one pair shared
    # objective
    loss: str = "mse"
    eval_batch_size: int = 512
    # reference training settings
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.005
    scheduler: str = "exponential"
    lr_gamma: float = 0.5
    patience: int = 3
    seed: int = 2021

    # Settings TimeMixer (and the reference's shared argument parser) has and DLinear
    # does not: accepting them would make a sweep over them do nothing.
    REJECTED_KEYS: ClassVar[dict[str, str]] = {
        key: f"DLinear has no {what} (the reference parser accepts {key} and DLinear ignores it)"
        for key, what in (("d_model", "hidden width"), ("d_ff", "feed-forward layer"), ("e_layers", "layers to stack"),
                          ("dropout", "dropout"), ("use_marks", "calendar inputs"))
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.input_len >= 2, "input_len", "an integer >= 2", self.input_len)
        check(self.output_len >= 1, "output_len", "an integer >= 1", self.output_len)
        check(self.step_len >= 1, "step_len", "an integer >= 1", self.step_len)
        check(self.features in ("M", "S"), "features", "'M' or 'S'", self.features)
        check(1 <= self.moving_avg <= self.input_len, "moving_avg",
              f"an integer in [1, input_len={self.input_len}]", self.moving_avg)
        check(self.loss in LOSSES, "loss", f"one of {LOSSES}", self.loss)
        check(self.eval_batch_size >= 1, "eval_batch_size", "an integer >= 1", self.eval_batch_size)
