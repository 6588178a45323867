"""`cnnlstm ingest`: read a source into the local Parquet bars store and report what was read.

Examples:
    cnnlstm ingest --source sim --sim n_stocks=300 --sim seed=1
    cnnlstm ingest --source qlib:data/cn --benchmark qlib:data/cn#SH000300 \
        --option instruments=csi300
    cnnlstm ingest --source csv:sp500/stocks --benchmark csv:sp500/index_gspc.csv
    cnnlstm ingest --source akshare:exports/ --benchmark netease:163/000905.csv \
        --on-invalid quarantine
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cnnlstm.core.errors import UserInputError

LIST_OPTIONS = frozenset({"symbols", "st_symbols"})
"""Source options that take a list: `--option symbols=SH600000,SH600010`."""


def source_option_value(key: str, text: str) -> object:
    """A `--option` value: JSON where it parses (numbers, objects), else text; lists by comma."""
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    if key in LIST_OPTIONS and not isinstance(value, list):
        value = [part.strip() for part in str(value).split(",") if part.strip()]
    return value


def _key_value(text: str) -> tuple[str, str]:
    """Parse one `KEY=VALUE` option."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `ingest` subcommand's parser."""
    parser = subparsers.add_parser(
        "ingest",
        help="read daily bars (or the simulated market) into the local Parquet store",
        description=(
            "Read daily bars from KIND:PATH (kinds: sim, qlib, akshare, csv, parquet, "
            "akshare-online, yfinance), validate them and add new (symbol, date) rows to the "
            "store. Running it twice changes nothing."
        ),
    )
    parser.add_argument(
        "--source",
        required=True,
        metavar="KIND:PATH",
        help="e.g. sim, qlib:DIR, akshare:DIR, csv:DIR_OR_FILE, parquet:DIR_OR_FILE, "
        "akshare-online:600000,000001, yfinance:AAPL,MSFT",
    )
    parser.add_argument(
        "--benchmark",
        metavar="KIND:PATH[#SYMBOL]",
        help="the benchmark index, e.g. qlib:DIR#SH000300, netease:FILE, csv:FILE",
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="store folder (default: one per source under $CNNLSTM_HOME/stores, the one "
        "`cnnlstm backtest` reads for the same --source and --benchmark)",
    )
    parser.add_argument(
        "--on-invalid",
        choices=["fail", "quarantine"],
        default="fail",
        help="fail on invalid rows (default) or write them to a quarantine file and go on",
    )
    parser.add_argument(
        "--on-restated",
        choices=["fail", "replace"],
        default="fail",
        help="stored rows arriving with other values (a re-adjusted or corrected history): fail "
        "(default, naming symbols, dates and factor) or replace each such symbol's whole history "
        "(logged in the store's restatements.jsonl); see docs/DATA.md",
    )
    parser.add_argument(
        "--sim",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a simulated-market option (a SimConfig field), repeatable: --sim n_stocks=500",
    )
    parser.add_argument(
        "--option",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the source's reader, repeatable: symbols=SH600000,SH600010 "
        "(qlib, csv, parquet), instruments=csi300 (qlib), tolerance=0.1 and st_symbols=... "
        '(akshare), encoding=gbk, date_format=%%Y%%m%%d, columns=\'{"close": "Adj Close"}\' '
        "(csv, parquet, akshare), decimal=, (csv: decimal commas), suffix=.txt (csv: data files' "
        "suffix), start=2020-01-01 and end=... (online)",
    )
    return parser


def source_store(args: argparse.Namespace, options: dict) -> Path:
    """The store `backtest` reads for the same source, benchmark and options (one per source)."""
    from cnnlstm.flows.params import DataParams
    from cnnlstm.flows.stages.data import default_store

    is_sim = args.source.strip().lower().split(":")[0] == "sim"
    data = DataParams(
        source=args.source,
        benchmark=args.benchmark,
        **({"sim": options} if is_sim else {"source_options": options}),
    )
    return default_store(data)


def run(args: argparse.Namespace) -> int:
    """Ingest and print the report; returns the exit code."""
    from cnnlstm.tasks.data.ingest import ingest

    is_sim = args.source.strip().lower().split(":")[0] == "sim"
    if args.sim and not is_sim:
        raise UserInputError("--sim options apply only to --source sim")
    if args.option and is_sim:
        raise UserInputError("the simulated market takes --sim KEY=VALUE options, not --option")
    options = dict(args.sim) | {k: source_option_value(k, v) for k, v in args.option}
    store = args.store if args.store is not None else source_store(args, options)
    report = ingest(
        args.source,
        store,
        benchmark=args.benchmark,
        on_invalid=args.on_invalid,
        on_restated=args.on_restated,
        source_options=options,
    )
    print("\n".join(report.lines()))
    return 0
