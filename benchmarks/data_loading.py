"""Loading a data set as the user's file (``--data PATH`` + layout keys) against the
built-in set (``--dataset NAME``), both with the Parquet cache warm.

Both go through data/table_data.py, so the ratio should be ~1: this checks that the
user path adds no cost of its own (target: user / built-in <= 1.1). Each case is
timed alternately, repeat by repeat, and the medians compared.

    python -m benchmarks.data_loading --repeats 15
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import table, use_shared_data, write_report


def cases(workdir: Path) -> list[dict[str, Any]]:
    """(name, built-in source, user source) per case; the user's files are the
    built-in files (ETTh1, the raw Volve export with its reader) or a long CSV
    converted from Volve, as a user would bring it."""
    from data.registry import dataset_file, get_info
    from data.source import builtin_source, user_source
    from data.table_data import DATA_KEYS
    from data.volve import volve_long_table

    long = volve_long_table(dataset_file("volve")).rename(columns={"well": "unique_id", "date": "ds",
                                                                   "oil_rate": "y"})
    long_csv = workdir / "volve_long.csv"
    long.to_csv(long_csv, index=False)
    return [
        {"case": "etth1", "builtin": builtin_source("etth1"),
         "user": user_source(dataset_file("etth1"), get_info("etth1").layout, DATA_KEYS)},
        {"case": "volve (raw export + reader)", "builtin": builtin_source("volve"),
         "user": user_source(dataset_file("volve"), get_info("volve").layout, DATA_KEYS)},
        {"case": "volve (long CSV)", "builtin": builtin_source("volve"),
         "user": user_source(long_csv, {"split": [0.7, 0.1]}, DATA_KEYS)},
    ]


def timed(load, cfg, source) -> float:
    started = time.perf_counter()
    load(cfg, source)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    use_shared_data()
    from trainables.config import build_config
    from trainables.timemixer.config import TimeMixerConfig
    from trainables.timemixer.task import SPEC, load_data

    cfg = build_config(TimeMixerConfig, dict(SPEC.smoke_overrides))
    rows = []
    with tempfile.TemporaryDirectory(prefix="data-loading-") as tmp:
        for case in cases(Path(tmp)):
            load_data(cfg, case["builtin"]), load_data(cfg, case["user"])  # warm the Parquet cache
            times: dict[str, list[float]] = {"builtin": [], "user": []}
            for _ in range(args.repeats):
                for kind in ("builtin", "user"):
                    times[kind].append(timed(load_data, cfg, case[kind]))
            builtin, user = statistics.median(times["builtin"]), statistics.median(times["user"])
            rows.append({"case": case["case"], "builtin_ms": 1000 * builtin, "user_ms": 1000 * user,
                         "ratio": user / builtin, "repeats": args.repeats})
    print(table(rows, ["case", "builtin_ms", "user_ms", "ratio", "repeats"]))
    worst = max(r["ratio"] for r in rows)
    print(f"worst ratio user / built-in: {worst:.3f} (target <= 1.1)")
    path = write_report("data_loading", {"rows": rows, "worst_ratio": worst, "target_ratio": 1.1})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
