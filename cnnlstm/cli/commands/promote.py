"""`cnnlstm promote`: point a registry alias (default `champion`) at a model version.

Examples:
    cnnlstm promote cnnlstm-cnn 3
    cnnlstm promote cnnlstm-lstm 3 --alias champion
    cnnlstm promote cnnlstm-cnn --show            # which versions carry challenger/champion
    cnnlstm promote cnnlstm-sim-cn-1a2b3c4d5e-cnn 4 --dry-run   # the gate's comparison only

Registered names are per dataset (`<prefix>-<dataset>-cnn`, see cnnlstm/flows/lineage.py).
`--dry-run` prints the promotion gate's comparison of the version with the champion (same
dataset and protocol only; out-of-sample rank IC and net excess return by default) and changes
nothing; an explicit promotion sets the alias whatever the gate says, after printing it.

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
    parser.add_argument(
        "--dry-run", action="store_true", help="show the gate's comparison, change nothing"
    )
    parser.add_argument(
        "--metric",
        action="append",
        help="gate metric (repeatable; default cnn_oos.mean_rank_ic and cnn_lstm.excess_return)",
    )
    parser.add_argument(
        "--min-improvement", type=float, default=0.0, help="margin the challenger must beat"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Promote, then show where the aliases point."""
    from mlflow.exceptions import MlflowException

    from cnnlstm.infra import tracking

    if not args.show:
        if not args.version:
            raise UserInputError("give the VERSION to promote (or --show)")
        decision = _gate(args, tracking)
        if decision is not None:
            print(decision.describe())
        if args.dry_run:
            return 0
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


def _gate(args: argparse.Namespace, tracking):  # noqa: ANN001, ANN202
    """The promotion gate's decision for NAME VERSION (None when the version does not exist)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    tracking.configure()
    try:
        run_id = MlflowClient().get_model_version(args.name, str(args.version)).run_id
    except MlflowException as err:
        if args.dry_run:
            raise UserInputError(f"no {args.name} v{args.version}: {err.message}") from None
        return None
    fields = {"min_improvement": args.min_improvement}
    if args.metric:
        fields["metrics"] = tuple(args.metric)
    return tracking.compare_to_champion(args.name, run_id, tracking.PromotionRule(**fields))
