"""Write one small data set of each kind a user brings, laid out as the README's
"Your own data" section reads them, so every example there runs offline:

    python examples/make_files.py my_data

- ``wells.csv``: daily production of 3 wells as a long table (``unique_id, ds, y``);
- ``market.csv`` + ``market.yaml``: 27 months of hourly prices and a day-ahead load
  forecast on Paris local time (23- and 25-hour DST days included), ``;``-separated
  with decimal commas, and the run config naming its columns and periods;
- ``recordings/<class>/*.npy``: vibration at 12 kHz, one folder per class;
- ``shipment.json``: a container and three box types.

The numbers are generated (seeded), not measured: they exercise the loaders and the
models, they say nothing about real wells, markets or bearings.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from data.synthetic import well_production


def write_wells(root: Path) -> Path:
    wide = well_production(n_wells=3, n_days=900, seed=11)
    long = wide.melt(id_vars="date", var_name="unique_id", value_name="y").rename(columns={"date": "ds"})
    path = root / "wells.csv"
    long[["unique_id", "ds", "y"]].to_csv(path, index=False, float_format="%.3f")
    return path


def write_market(root: Path) -> Path:
    stamps = pd.date_range(pd.Timestamp("2013-01-01", tz="Europe/Paris"), pd.Timestamp("2015-04-01", tz="Europe/Paris"),
                           freq="h", inclusive="left")
    rng = np.random.default_rng(12)
    hour, dow = stamps.hour.to_numpy(), stamps.day_of_week.to_numpy()
    load = 50_000 + 8_000 * np.sin(2 * np.pi * (hour - 6) / 24) - 5_000 * (dow >= 5) + rng.normal(0, 500, len(stamps))
    price = 20 + 0.0005 * load + 6 * np.sin(2 * np.pi * (dow + hour / 24) / 7) + rng.normal(0, 2, len(stamps))
    frame = pd.DataFrame({"time": stamps.strftime("%Y-%m-%d %H:%M"), "price": price.round(2), "load": load.round(0)})
    path = root / "market.csv"
    frame.to_csv(path, sep=";", decimal=",", index=False)
    (root / "market.yaml").write_text(
        "# the seasonal GRU on market.csv: its columns, the day-ahead forecast it may read, its periods\n"
        "model: seasonal_gru\n"
        "data:\n"
        f"  path: {path.resolve()}\n"
        "  exogenous: [load]\n"
        "  train: [2013-01-01, 2015-01-01]\n"
        "  val: [2015-01-01, 2015-02-01]\n"
        "  test: [2015-02-01, 2015-04-01]\n"
        "params:\n"
        "  exogenous: true\n")
    return path


def write_recordings(root: Path) -> Path:
    folder = root / "recordings"
    rng = np.random.default_rng(13)
    t = np.arange(16_000) / 12_000
    for name, tone in {"healthy": 400.0, "inner_race": 1_600.0, "outer_race": 3_100.0}.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for run in range(2):
            signal = np.sin(2 * np.pi * tone * t + rng.uniform(0, 2 * np.pi)) + 0.4 * rng.standard_normal(len(t))
            np.save(folder / name / f"run{run + 1}.npy", signal.astype(np.float32))
    return folder


def write_shipment(root: Path) -> Path:
    shipment = {"name": "order-1017", "container": {"L": 587, "W": 233, "H": 220},
                "boxes": [{"id": "tv", "l": 108, "w": 76, "h": 30, "count": 40, "vertical": "h"},
                          {"id": "chair", "l": 110, "w": 43, "h": 25, "count": 33, "vertical": "wh"},
                          {"id": "crate", "l": 92, "w": 81, "h": 55, "count": 12, "vertical": "lwh"}]}
    path = root / "shipment.json"
    path.write_text(json.dumps(shipment, indent=1))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="where to write the files (created if absent)")
    root = Path(parser.parse_args(argv).folder)
    root.mkdir(parents=True, exist_ok=True)
    for path in (write_wells(root), write_market(root), write_recordings(root), write_shipment(root)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
