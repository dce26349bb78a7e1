"""`datasets`: the model families and every built-in data set (whether its files are
present and where, size, source, licence); `datasets fetch NAME...` downloads sets
into the user cache, sha256-verified."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from data.fetch import human_size
from data.registry import DATASETS, cache_dir, check_dataset, data_roots
from trainables.registry import get_spec, names


def register(subparsers: Any) -> None:
    datasets = subparsers.add_parser("datasets", help="list datasets and models; check files")
    datasets.add_argument("--data-dir", help="directory searched first for data files")
    datasets.add_argument("--check", action="store_true", help="verify sha256 checksums")
    datasets.set_defaults(func=run)
    datasets_sub = datasets.add_subparsers(dest="datasets_command", metavar="{fetch}")
    fetch = datasets_sub.add_parser(
        "fetch", help="download built-in datasets into the user cache (sha256-verified)",
        description="Download every file of the named built-in datasets into the user cache "
                    "($XDG_CACHE_HOME/ray-orchestrator/data), verify sha256, print licence and citation.")
    fetch.add_argument("names", nargs="+", metavar="NAME", help="dataset names (see `datasets`), or `all`")
    fetch.add_argument("--mirror", default=None,
                       help="base URL with the same layout as a data root (default: $ORCH_DATA_MIRROR, "
                            "else each file's public URL)")
    fetch.set_defaults(func=fetch_command)


def run(args: argparse.Namespace) -> int:
    """List the model families, then every built-in data set: whether its files are
    present and where, its size, source and licence (``--check``: verify sha256)."""
    print("models:")
    for name in names():
        spec = get_spec(name)
        print(f"  {name:14s} datasets: {', '.join(spec.datasets)}  ({spec.description})")
        if spec.data_keys:
            print(f"  {'':14s} your own: --data PATH, keys {', '.join(spec.data_keys)}")
    print("  pack           datasets: br; your own: --instances FILE (a BR .txt, or a shipment .json / .csv)")
    print("datasets:")
    print(f"  {'name':16s} {'state':10s} {'files':>6s} {'size':>9s}  where")
    for name, info in sorted(DATASETS.items()):
        if info.synthetic:
            print(f"  {name:16s} {'generated':10s} {'-':>6s} {'-':>9s}  no files: {info.description}")
            continue
        if not info.files:  # a folder the user supplies (layout key `folder`), nothing to download
            folder = info.layout.get("folder", "")
            roots = [root for root in data_roots(args.data_dir) if folder and (root / folder).is_dir()]
            where = str(roots[0] / folder) if roots else f"not found: put it at <data root>/{folder}"
            print(f"  {name:16s} {'ok' if roots else 'MISSING':10s} {'-':>6s} {'-':>9s}  {where}")
            print(f"      {info.description}")
            print(f"      source: {info.source}")
            continue
        statuses = check_dataset(name, args.data_dir, verify=args.check)
        found = [s for s in statuses if s.status != "missing"]
        bad = [s for s in statuses if s.status not in ("ok", "unchecked", "missing")]
        state = "ok" if len(found) == len(statuses) else ("MISSING" if not found else "INCOMPLETE")
        if bad:
            state = "CHECKSUM MISMATCH"
        roots = sorted({str(_root_of(s.path, s.relative)) for s in found})
        where = "; ".join(roots) if roots else f"not found: `python -m orchestrator datasets fetch {name}`"
        print(f"  {name:16s} {state:10s} {f'{len(found)}/{len(statuses)}':>6s} {human_size(info.size):>9s}  {where}")
        print(f"      {info.description}")
        print(f"      source: {info.source}")
        print(f"      licence: {info.licence or 'not stated'}")
        for status in statuses:
            if status.status not in ("ok", "unchecked") and found:
                print(f"      {status.relative}: {status.status}" + (f" ({status.path})" if status.path else ""))
    return 0


def _root_of(path: Path, relative: str) -> Path:
    """The data root a file was found under (``path`` minus its relative part)."""
    return path.parents[len(Path(relative).parts) - 1]


def fetch_command(args: argparse.Namespace) -> int:
    """``datasets fetch NAME...``: download built-in sets into the user cache, then
    print each set's licence and what to cite."""
    from data.fetch import attribution, fetch_dataset, mirror_url, resolve_names

    mirror = mirror_url(args.mirror)
    for name in resolve_names(args.names):
        info = DATASETS[name]
        if info.synthetic:
            print(f"{name}: generated on the fly; it needs no download")
            continue
        if not info.files:
            print(f"{name}: nothing to download ({info.source})")
            continue
        origin = f" from {mirror}" if mirror else ""
        print(f"{name}: {len(info.files)} file(s), {human_size(info.size)}, into {cache_dir()}{origin}",
              file=sys.stderr, flush=True)
        result = fetch_dataset(name, mirror)
        print(f"{name}: {len(result.downloaded)} downloaded, {len(result.present)} already present, "
              f"in {result.root}")
        for line in attribution(info):
            print(line)
    return 0
