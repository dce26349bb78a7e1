"""`python -m orchestrator <command>`: parse, validate, dispatch. No logic here.

Every command module registers its own sub-parser (``register(subparsers)``, which
sets the function the command runs), and every input problem (config, data,
instance files) becomes one line on stderr and exit code 2 before any cluster work.
"""

from __future__ import annotations

import argparse
import sys

from data.errors import DataError
from orchestrator import commands, datasets, pack, pack_tune
from packing.errors import InstanceError
from trainables.errors import ConfigError

EXIT_BAD_INPUT = 2
BAD_INPUT = (ConfigError, DataError, InstanceError)
COMMAND_MODULES = (commands, datasets, pack, pack_tune)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orchestrator", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BAD_INPUT as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
