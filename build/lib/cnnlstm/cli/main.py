"""The `cnnlstm` console command.

Each subcommand lives in its own module under `cnnlstm.cli.commands` and exposes two functions:
`register(subparsers)`, which adds its parser, and `run(args) -> int`, which does the work.
Modules are discovered, so adding a subcommand never touches this file.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from cnnlstm import __version__
from cnnlstm.cli import commands
from cnnlstm.core.errors import UserInputError


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every discovered subcommand."""
    parser = argparse.ArgumentParser(
        prog="cnnlstm",
        description="CNN stock selection + LSTM timing (Liu, Zhang & Ma 2017) research platform.",
    )
    parser.add_argument("--version", action="version", version=f"cnnlstm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"cnnlstm.cli.commands.{info.name}")
        sub_parser = module.register(sub)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # A flow run without PREFECT_API_URL starts a temporary local server; on a loaded 2-core
    # machine it can take longer than Prefect's default 20 s to answer, so allow more.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # Its telemetry writer races the flow for the temporary SQLite database ("database is
    # locked" tracebacks); an explicit setting by the user still wins.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
