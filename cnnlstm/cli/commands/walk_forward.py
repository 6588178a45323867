"""`cnnlstm walk-forward`: retrain the CNN monthly and the LSTM every k months, then report.

Examples:
    cnnlstm walk-forward --seeds 3                 # the simulated market, its fitted test span
    cnnlstm walk-forward --source qlib:../shared/data/cn-qlib-csi300-sample \
        --benchmark 'qlib:../shared/data/cn-qlib-csi300-sample#SH000300' \
        --test 2019-01-01:2020-06-30 --train-months 36 --lstm-every 6 --survivorship-biased

The research settings are the `backtest` command's (`--config`, flags, `--set`); the test period
is the walk-forward span and each month's CNN trains on the `--train-months` months before it
(default: the length of the protocol's training period). The report is the backtest's: Table 2
over seeds, the per-seed table, the seed ensemble, gross and net, the statistics and the
caveats; MLflow experiment `cnnlstm-walk-forward` unless `--experiment` says otherwise.
"""

from __future__ import annotations

import argparse
import time

from cnnlstm.cli.evidence_flags import add_seed_cost_arguments, apply_seed_cost_flags
from cnnlstm.cli.output import (
    add_out_argument,
    add_verbosity_argument,
    print_results,
    resolve_out_dir,
    tracking_failure_keeps,
)
from cnnlstm.cli.research import add_research_arguments, research_params
from cnnlstm.cli.research import preflight as research_preflight
from cnnlstm.core.errors import UserInputError


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `walk-forward` subcommand's parser."""
    parser = subparsers.add_parser(
        "walk-forward",
        help="walk-forward test: monthly CNN, k-monthly LSTM retraining, the backtest's report",
        description="Run the walk-forward flow: for each month of the test period the CNN trains "
        "on the months before it, the LSTM every --lstm-every months; the months are chained "
        "into one backtest and reported like `backtest` (seeds, gross/net, statistics, caveats).",
    )
    add_research_arguments(parser)
    add_seed_cost_arguments(parser)
    parser.add_argument("--train-months", type=int, metavar="N",
                        help="months each CNN trains on (default: as the protocol's)")  # fmt: skip
    parser.add_argument("--lstm-every", type=int, default=3, metavar="K",
                        help="retrain the LSTM every K months (default 3)")  # fmt: skip
    parser.add_argument("--runner", choices=["threads", "dask", "ray"], default="threads",
                        help="task runner of the trainings (default threads)")  # fmt: skip
    parser.add_argument("--workers", type=int, metavar="N",
                        help="runner size (threads > 1: not reproducible)")  # fmt: skip
    add_out_argument(parser)
    add_verbosity_argument(parser)
    return parser


def months_between(start, end) -> int:
    """Whole months from `start`'s month to `end`'s month, both included."""
    return (end.year - start.year) * 12 + end.month - start.month + 1


def build_params(args: argparse.Namespace):
    """The flow's `WalkForwardParams` from the command line.

    Raises:
        UserInputError: a setting is invalid.
    """
    from pydantic import ValidationError

    from cnnlstm.flows.runners import TaskRunnerConfig
    from cnnlstm.flows.walk_forward import WalkForwardParams

    if getattr(args, "experiment", None) is None:
        args.set = [("tracking.experiment", "cnnlstm-walk-forward"), *(args.set or [])]
    args.set = [("tracking.register_models", False), *args.set]
    research = research_params(apply_seed_cost_flags(args))
    train = research.protocol.train
    months = args.train_months or months_between(train.start, train.end)
    try:
        runner = TaskRunnerConfig(kind=args.runner, max_workers=args.workers)
        return WalkForwardParams(
            research=research,
            train_months=months,
            lstm_every=args.lstm_every,
            task_runner=runner,
        )
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise UserInputError(f"invalid walk-forward settings: {problems}") from None


def preflight(args: argparse.Namespace) -> None:
    """Before any server starts: config file, paths, tracking, --out, then every setting."""
    research_preflight(args, "walk-forward")
    args.params = build_params(args)


def run(args: argparse.Namespace) -> int:
    """Run the walk-forward flow, print its report and where the results are."""
    params = getattr(args, "params", None) or build_params(args)
    out = resolve_out_dir(args.out, "walk-forward")
    from cnnlstm.flows.walk_forward import walk_forward_flow
    from cnnlstm.infra.dead_runs import owned_flow_runs
    from cnnlstm.infra.prefect_server import prefect_api

    started = time.perf_counter()
    # the temporary Prefect server started by main, if any (waits for it)
    with prefect_api(), tracking_failure_keeps(out), owned_flow_runs():
        outcome = walk_forward_flow(params, out_dir=str(out) if out else None)
    seconds = time.perf_counter() - started
    print(outcome.summary or outcome.table2)
    print()
    print(
        f"walk-forward over {outcome.months} months, LSTM trained {outcome.lstm_trainings} "
        f"times per seed, seeds {outcome.seeds}; finished in {seconds:.0f} s"
    )
    print_results(out, outcome.tracked)
    return 0
