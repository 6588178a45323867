"""The options the live commands share (`data-health`, `select`, `orders`)."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """The options the live commands share (source, market, calendar, day, delay)."""
    parser.add_argument(
        "--source", default="sim", help="KIND:PATH of the bars (sim needs --allow-simulator)"
    )
    parser.add_argument(
        "--allow-simulator", action="store_true", help="allow the simulated market as the source"
    )
    parser.add_argument("--market", choices=["cn", "us"], default="cn", help="market preset")
    parser.add_argument("--calendar", help="exchange calendar code overriding the market's")
    parser.add_argument(
        "--calendar-extra",
        type=Path,
        help="file of the sessions after exchange-calendars' last year (docs/DEPLOY.md)",
    )
    parser.add_argument("--as-of", type=date.fromisoformat, help="the day (default today)")
    parser.add_argument(
        "--data-delay-minutes", type=int, default=60, help="feed delay after the close"
    )


def live_fields(args: argparse.Namespace) -> dict:
    """The `LiveParams` fields the shared options give."""
    from cnnlstm.flows.live import require_live_source
    from cnnlstm.flows.params import DataParams

    data = DataParams(source=args.source)
    require_live_source(data, args.allow_simulator)  # one `error:` line, before any flow
    return {
        "data": data,
        "allow_simulator": args.allow_simulator,
        "market": args.market,
        "calendar": args.calendar,
        "calendar_extra": args.calendar_extra,
        "as_of": args.as_of,
        "data_delay_minutes": args.data_delay_minutes,
    }
