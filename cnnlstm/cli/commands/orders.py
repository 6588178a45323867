"""`cnnlstm orders`: the session's LSTM signals and the next session's orders, without a server.

Examples:
    cnnlstm orders --as-of 2016-03-03 --source qlib:data/cn --capital 1000000
    cnnlstm orders --as-of 2016-03-01 --rebuild     # redo an earlier day (drops later days)

Runs the `daily_timing` flow (a non-session day is a no-op naming the holiday; stale data or a
champion of another dataset fail) and prints the orders.
"""

from __future__ import annotations

import argparse

from cnnlstm.cli.live_args import add_live_arguments, live_fields
from cnnlstm.core.redact import redact_url


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `orders` subcommand's parser."""
    parser = subparsers.add_parser(
        "orders",
        help="turn the session's LSTM signals into the next session's orders (daily_timing)",
        description="Run the daily timing flow for --as-of without a Prefect server.",
    )
    add_live_arguments(parser)
    parser.add_argument("--capital", type=float, help="capital to size the buys in shares")
    parser.add_argument(
        "--rebuild", action="store_true", help="allow a day before the state's last day"
    )
    parser.add_argument(
        "--no-catch-up",
        action="store_true",
        help="refuse, naming them, when sessions before --as-of were never processed",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the daily timing flow and print its orders."""
    from cnnlstm.flows.daily_timing import DailyParams, daily_timing_flow
    from cnnlstm.infra.dead_runs import owned_flow_runs

    params = DailyParams(
        **live_fields(args),
        capital=args.capital,
        rebuild=args.rebuild,
        catch_up=not args.no_catch_up,
    )
    with owned_flow_runs():
        out = daily_timing_flow(params)
    if out.status == "no_session":
        print(out.reason)
        return 0
    if len(out.processed) > 1:
        print(f"caught up: {', '.join(str(d) for d in out.processed)}")
    print(f"{len(out.orders)} orders for {out.trade_date} ({out.model}):")
    for order in out.orders:
        shares = "" if order["shares"] is None else f" {order['shares']:.0f} shares"
        print(
            f"  {order['session']:5} {order['side']:4} {order['symbol']}{shares}: {order['reason']}"
        )
    if out.book is not None:
        book = out.book
        print(
            f"paper book after {book.day}: NAV {book.nav:,.2f} (P&L {book.pnl:+,.2f}), cash "
            f"{book.cash:,.2f}, {book.positions} positions, {book.fills} fills today, "
            + ("reconciled" if book.reconciled else "NOT reconciled")
            + f" ({redact_url(book.url)})"
        )
    return 0
