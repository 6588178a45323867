"""The daily timing flow: today's LSTM signals for the month's selection, and the orders.

Input contract: `DailyParams` (a form in the Prefect UI) and the selection the monthly flow
published for the current month (`live/selection-YYYY-MM.parquet`). Steps: ingest what is new,
check that `as_of` is a trading day of the data's own calendar (else log and skip), compute the
champion LSTM's signal for each selected stock from the window ending today, append it to the
month's decision history (`live/timing-state.json`, so the next day continues it), and turn the
held-days rule into orders (`tasks.daily_orders`): `live/orders-YYYY-MM-DD.parquet`, a Prefect
table artifact and the flow's return value. Re-running a day replaces that day's decision
instead of appending it twice.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
from prefect import flow
from prefect.logging import get_run_logger
from pydantic import Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.live import (
    LiveParams,
    champion_checkpoint,
    is_last_weekday_of_month,
    live_dir,
    read_state,
    selection_path,
    write_atomic,
    write_state,
)
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import bars_as_of, ingest, input_fingerprint
from cnnlstm.flows.stages.publish import publish_table
from cnnlstm.tasks.daily_orders import daily_orders, held_after
from cnnlstm.tasks.features import LstmWindowConfig, build_lstm_windows
from cnnlstm.tasks.train import predict_lstm


class DailyParams(LiveParams):
    """What the daily timing takes."""

    window: LstmWindowConfig = Field(default_factory=LstmWindowConfig)
    hold_days: int = Field(5, ge=1, le=60, description="held days a +1 sets (paper: 5)")
    capital: float | None = Field(
        None, gt=0, description="capital to size orders in shares (none: weights only)"
    )


@flow(name="daily_timing", description="Turn today's LSTM signals into orders.")
def daily_timing_flow(params: DailyParams = DailyParams()) -> dict:  # noqa: B008
    """Compute today's signals and orders for the current month's selection."""
    logger = get_run_logger()
    run = StageRunner()
    day = params.day()
    ingested = run(ingest, params.data, input_fingerprint(params.data, today=day))
    bars = run(bars_as_of, ingested, day).read_table()
    if bars["date"].max() != day:
        logger.info(
            f"{day} is not a trading day in the data (last bars: {bars['date'].max()}): skipped"
        )
        return {"day": day, "skipped": True, "orders": []}
    month = day.replace(day=1)
    path = selection_path(month)
    if not path.exists():
        raise UserInputError(
            f"no selection published for {month:%Y-%m} ({path}): run monthly_selection first"
        )
    symbols = pl.read_parquet(path)["symbol"].to_list()
    keys = pl.DataFrame({"symbol": symbols, "date": [day] * len(symbols)})
    windows = build_lstm_windows(bars, params.window, keys=keys, with_labels=False)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint, version = champion_checkpoint("lstm", params, Path(tmp))
        signals = predict_lstm(checkpoint, windows) if len(windows) else None
    today = {} if signals is None else dict(signals.select("symbol", "signal").iter_rows())
    for row in windows.skipped.iter_rows(named=True):
        logger.info(f"{row['symbol']}: no signal today ({row['reason']}); counted as -1")

    state = read_state()
    if state.get("month") != str(month):
        state = {"month": str(month), "days": [], "history": {}}
    if str(day) in state["days"]:  # a re-run of the same day replaces its decision
        cut = state["days"].index(str(day))
        state["days"] = state["days"][:cut]
        state["history"] = {s: h[:cut] for s, h in state["history"].items()}
    for symbol in symbols:
        past = state["history"].get(symbol, [])
        past += [-1] * (len(state["days"]) - len(past))  # selected later than day one: flat
        state["history"][symbol] = [*past, int(today.get(symbol, -1))]
    state["days"].append(str(day))
    closes = dict(bars.filter(pl.col("date") == day).select("symbol", "close").iter_rows())
    orders = daily_orders(
        symbols,
        state["history"],
        hold_days=params.hold_days,
        month_end=is_last_weekday_of_month(day),
        closes=closes,
        capital=params.capital,
    )
    state["held"] = {s: held_after(state["history"][s], params.hold_days)[1] for s in symbols}
    write_state(state)
    write_atomic(orders, live_dir() / f"orders-{day}.parquet")
    publish_table(orders, "daily-orders", f"Orders after the close of {day} (LSTM v{version})")
    logger.info(f"{day}: {orders.height} orders for {len(symbols)} selected stocks")
    return {"day": day, "skipped": False, "orders": orders.to_dicts(), "signals": today}
