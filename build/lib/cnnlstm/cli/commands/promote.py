"""`cnnlstm promote`: point a registry alias (default `champion`) at a model version.

Examples:
    cnnlstm promote cnnlstm-cnn 3
    cnnlstm promote cnnlstm-lstm 3 --alias champion
    cnnlstm promote cnnlstm-cnn --show            # which versions carry challenger/champion

The scheduled flows load `<name>@champion`; every backtest run tags its models `challenger`.
"""

from __future__ import annotations

import argparse

from cnnlstm.core.errors import UserInputError


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `promote` subcommand's parser."""
    parser = subparsers.add_parser(
        "promote",
        help="set the champion (or another alias) of a registered model",
        description="Point a registry alias at a version of a registered model in MLflow.",
    )
    parser.add_argument("name", help="registered model, e.g. cnnlstm-cnn")
    parser.add_argument("version", nargs="?", help="model version to promote")
    parser.add_argument("--alias", default="champion", help="alias to set (default champion)")
    parser.add_argument("--show", action="store_true", help="only show the current aliases")
    return parser


def run(args: argparse.Namespace) -> int:
    """Promote, then show where the aliases point."""
    from mlflow.exceptions import MlflowException

    from cnnlstm.infra import tracking

    if not args.show:
        if not args.version:
            raise UserInputError("give the VERSION to promote (or --show)")
        try:
            tracking.promote(args.name, args.version, args.alias)
        except MlflowException as err:
            raise UserInputError(
                f"cannot promote {args.name} v{args.version}: {err.message}"
            ) from None
    for alias in dict.fromkeys([tracking.CHALLENGER, tracking.CHAMPION, args.alias]):
        found = tracking.alias_version(args.name, alias)
        where = f"v{found.version} (run {found.run_id})" if found else "not set"
        print(f"{args.name}@{alias}: {where}")
    return 0
