"""``nas`` command line: each subcommand turns flags into typed configs, calls the Python API
and prints; every command class lives in the module of its family.

Bad input (a malformed flag, or a value a config, proxy request or space refuses: any
``nas.errors.UserError``) prints one line, ``nas <command>: error: ...``, and exits 2 before
the database is touched; any other exception is a bug: one ``internal error`` line and exit 1,
or its traceback under ``--debug`` (before or after the command)."""

from __future__ import annotations

import argparse
import sys
import typing

from nas.cli.bench import BenchCommand, DemoCommand
from nas.cli.common import resolve_db
from nas.cli.data import DataCommand, ProxyCommand
from nas.cli.distill import DistillCommand, PretrainCommand
from nas.cli.search import DashboardCommand, SearchCommand
from nas.cli.truth import GroundTruthCommand, ReportCommand
from nas.core.runtime import configure
from nas.errors import UserError

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


DEBUG_HELP = "show the traceback of an internal error instead of one line"


class _OneLineParser(argparse.ArgumentParser):
    """Reports a malformed command line in one line (not usage + error) and exits 2; every
    parser, subcommands' included, accepts ``--debug``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                          help=DEBUG_HELP)

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="nas", description="Neural architecture search on distilled proxy data.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.add_arguments(sub.add_parser(name, help=command.help, description=command.help))
    return parser


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a malformed command line (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    configure(getattr(args, "threads", None))
    try:
        resolve_db(args)
        return COMMANDS[args.command].take_action(args)
    except UserError as exc:
        print(f"nas {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nas {args.command}: interrupted; finished runs are saved, re-run to resume",
              file=sys.stderr)
        return 130
    except Exception as exc:
        if getattr(args, "debug", False):
            raise
        print(f"nas {args.command}: internal error: {type(exc).__name__}: {_one_line(exc)}; "
              "rerun with --debug for the traceback", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
