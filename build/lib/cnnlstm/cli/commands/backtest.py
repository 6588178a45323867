"""`cnnlstm backtest`: run the research protocol as the Prefect `backtest` flow and print Table 2.

Examples:
    cnnlstm backtest                     # the simulated market, fast profile, paper split
    cnnlstm backtest --source csv:../shared/data/us-sp500-2013-2018/stocks \
        --benchmark csv:../shared/data/us-sp500-2013-2018/index_gspc.csv \
        --train 2014-03-01:2015-12-31 --test 2016-01-01:2018-01-31 --market us --out out/sp500
    cnnlstm backtest --source qlib:../shared/data/cn-qlib-csi300-sample \
        --benchmark qlib:../shared/data/cn-qlib-csi300-sample#SH000300 --profile paper

Without a prefect server configured (`PREFECT_API_URL`), the flow runs against a temporary local
one; MLflow logs to `MLFLOW_TRACKING_URI` (default: SQLite in the data directory).
"""

from __future__ import annotations

import argparse
import time

from pydantic import ValidationError

from cnnlstm.cli.commands.ingest import _key_value, source_option_value
from cnnlstm.core.errors import UserInputError


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `backtest` subcommand's parser."""
    parser = subparsers.add_parser(
        "backtest",
        help="train on a period, test out of sample and print the paper's Table 2",
        description="Run ingest -> validate -> features -> train CNN/LSTM -> select -> timing -> "
        "backtest -> report -> MLflow as a Prefect flow of cached stages. With no arguments: the "
        "simulated market, the fast profile and the paper's split fitted to its span.",
    )
    parser.add_argument("--source", default="sim", metavar="KIND:PATH", help="bars (default sim)")
    parser.add_argument("--benchmark", metavar="KIND:PATH[#SYMBOL]", help="index to compare to")
    parser.add_argument("--option", action="append", type=_key_value, default=[],
                        metavar="KEY=VALUE", help="source reader option (repeatable)")  # fmt: skip
    parser.add_argument("--sim", action="append", type=_key_value, default=[],
                        metavar="KEY=VALUE", help="sim market field: n_stocks=100")  # fmt: skip
    parser.add_argument("--train", metavar="START:END", help="training period (paper: 2007-2013)")
    parser.add_argument("--test", metavar="START:END", help="test period (paper: 2014-2017-03)")
    parser.add_argument("--market", choices=["cn", "us"], default="cn", help="cost/rule preset")
    parser.add_argument("--profile", choices=["fast", "paper"], default="fast")
    parser.add_argument("--execution", choices=["open", "close"], default="open",
                        help="trade signals at the next open (default) or the close")  # fmt: skip
    parser.add_argument("--on-invalid", choices=["fail", "quarantine"], default="fail")
    parser.add_argument("--survivorship-biased", action="store_true",
                        help="the stocks are survivors only: say so in the report")  # fmt: skip
    parser.add_argument("--experiment", default="cnnlstm-backtest", help="MLflow experiment")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    parser.add_argument("--refresh", action="store_true", help="ignore cached stage results")
    parser.add_argument("--out", metavar="DIR", help="write Table 2, figures and ledger here")
    return parser


def build_params(args: argparse.Namespace):
    """The flow's `ResearchParams` from the command line.

    Raises:
        UserInputError: a period, option or setting is invalid.
    """
    from cnnlstm.flows.params import DataParams, Period, Protocol, ResearchParams, TrackingParams
    from cnnlstm.tasks.features import LstmWindowConfig
    from cnnlstm.tasks.report import ReportConfig

    try:
        sim = {k: source_option_value(k, v) for k, v in args.sim}
        data = DataParams(
            source=args.source,
            source_options={k: source_option_value(k, v) for k, v in args.option},
            sim=sim,
            benchmark=args.benchmark,
            on_invalid=args.on_invalid,
        )
        split = {"execution": args.execution}
        if args.train or args.test:
            if not (args.train and args.test):
                raise UserInputError("give both --train and --test (or neither)")
            protocol = Protocol(
                train=Period.parse(args.train), test=Period.parse(args.test), **split
            )
        elif data.is_sim:
            protocol = ResearchParams.default_sim(data=data).protocol
            protocol = protocol.model_copy(update=split)
        else:
            protocol = Protocol.paper(**split)
        return ResearchParams(
            data=data,
            protocol=protocol,
            profile=args.profile,
            market=args.market,
            lstm_windows=LstmWindowConfig(execution=args.execution),
            report=ReportConfig(survivorship_caveat=args.survivorship_biased),
            tracking=TrackingParams(enabled=not args.no_mlflow, experiment=args.experiment),
            refresh=args.refresh,
        )
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in err.errors()
        )
        raise UserInputError(f"invalid backtest settings: {problems}") from None


def run(args: argparse.Namespace) -> int:
    """Run the backtest flow and print Table 2."""
    params = build_params(args)
    from cnnlstm.flows.backtest import backtest_flow

    started = time.perf_counter()
    outcome = backtest_flow(params, out_dir=args.out)
    seconds = time.perf_counter() - started
    print(outcome.table2)
    print()
    cached = [s for s, state in outcome.stages.items() if state == "Cached"]
    print(f"finished in {seconds:.1f} s; stages from cache: {', '.join(cached) or 'none'}")
    if outcome.out_dir:
        print(f"report, figures and ledger: {outcome.out_dir}")
    if outcome.tracked is not None:
        print(f"MLflow run: {outcome.tracked.link} ({outcome.tracked.tracking_uri})")
    return 0
