"""``nas`` command line: each subcommand turns flags into typed configs, calls the Python API
and prints; every command class lives in the module of its family."""

from __future__ import annotations

import argparse
import sys

from nas.cli.bench import BenchCommand, DemoCommand
from nas.cli.data import DataCommand, ProxyCommand
from nas.cli.distill import DistillCommand, PretrainCommand
from nas.cli.search import DashboardCommand, SearchCommand
from nas.cli.truth import GroundTruthCommand, ReportCommand
from nas.core.data import DataError
from nas.core.runtime import configure
from nas.engines import SearchError, UnknownStrategyError
from nas.engines.nni_engine import MissingExtraError
from proxies import UnknownProxyError
from search_spaces import InvalidArchitectureError, UnknownSpaceError
from storage import StorageError

USER_ERRORS = (DataError, InvalidArchitectureError, UnknownSpaceError, UnknownProxyError,
               StorageError, ValueError, UnknownStrategyError, MissingExtraError, SearchError)

COMMANDS = {
    "data": DataCommand(),
    "proxy": ProxyCommand(),
    "search": SearchCommand(),
    "ground-truth": GroundTruthCommand(),
    "report": ReportCommand(),
    "demo": DemoCommand(),
    "bench": BenchCommand(),
    "dashboard": DashboardCommand(),
    "pretrain": PretrainCommand(),
    "distill": DistillCommand(),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nas", description="Neural architecture search on distilled proxy data.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.add_arguments(sub.add_parser(name, help=command.help, description=command.help))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure(getattr(args, "threads", None))
    try:
        return COMMANDS[args.command].take_action(args)
    except USER_ERRORS as exc:
        print(f"nas {args.command}: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nas {args.command}: interrupted; finished runs are saved, re-run to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
